import { Pool } from 'undici';
const small = Buffer.from(JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }));
const pool = new Pool('http://127.0.0.1:25001', { connections: 32 });
const stop = Date.now() + Number(process.argv[2] ?? 8000); let n = 0; const t = {};
const loop = async (b) => { while (Date.now() < stop) { const r = await pool.request({ path: '/bench', method: 'POST', body: b, headers: {'content-type': 'application/json'} }); await r.body.dump(); t[r.statusCode] = (t[r.statusCode] ?? 0) + 1; } };
await Promise.all([...Array(32)].map(() => loop(small)));
console.log(t); await pool.close();
