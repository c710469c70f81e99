// `make demo` is one of the README's two commands: run the whole story and check it tells it.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('make demo', () => {
  it('runs the whole story and exits 0', { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '../../demo/run.ts')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(out).not.toContain('demo failed');
    expect(code).toBe(0);
    expect(out).toMatch(
      /WebhookEndpoint\/acme-orders: Ready=True in config generation \d+ policy patient/,
    );
    expect(out).toContain('receiver attempt 2: 503');
    expect(out).toMatch(
      /attempt 3: signature verified by the standardwebhooks library ✓ webhook-id (msg_\w+)/,
    );
    expect(out).toMatch(/app got 200 \{"received":true\} after 3 attempts/);
    expect(out).toContain('GitHub signed push → 200');
    expect(out).toContain('forger tampered push → 401');
    expect(out).toContain('the app received 1 webhook(s)');
  });
});
