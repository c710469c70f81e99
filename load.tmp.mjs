import { Pool } from 'undici';
const big = Buffer.alloc(1 << 20, 120); const small = Buffer.alloc(1000, 120);
const pool = new Pool('http://127.0.0.1:25001', { connections: 80 });
const stop = Date.now() + 10000; let n = 0; const t = {};
const loop = async (b) => { while (Date.now() < stop) { const r = await pool.request({ path: '/bench', method: 'POST', body: b, headers: { prefer: 'respond-async', 'hookgate-delivery-id': 'x' + n++ } }); await r.body.dump(); t[r.statusCode] = (t[r.statusCode] ?? 0) + 1; } };
await Promise.all([...Array(16)].map(() => loop(big)).concat([...Array(64)].map(() => loop(small))));
console.log(t); await pool.close();
