// `make demo` is one of the README's two commands: run the whole story and check it tells it.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('make demo', () => {
  it(
    'runs the whole story, ends by itself within two minutes and exits 0',
    { timeout: 180_000 },
    async () => {
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
      // A rate limit kicks in: two delivered (the burst), then 429 problems with Retry-After.
      expect(out).toMatch(/webhook 2 → 204 delivered/);
      expect(out).toMatch(/webhook 3 → 429 Rate limited \(problem\+json, Retry-After: \d+s\)/);
      expect(out).toContain('receiver verified 2 signature(s)');
      // A circuit opens after 4 failures in a row; the third webhook never reaches the receiver.
      expect(out).toMatch(/webhook 2 → 500 after 2 attempts/);
      expect(out).toMatch(/webhook 3 → 503 Circuit open — answered by the sidecar/);
      expect(out).toContain('receiver was called 4 times in all');
      // kubectl: the opted-in namespace, then endpoints and policies with their columns.
      expect(out).toMatch(/shop\s+Active\s+\S+\s+enabled/);
      expect(out).toMatch(
        /webhookendpoint\.hookgate\.io\/initech-orders\s+Egress\s+\S+\s+fragile\s+True/,
      );
      expect(out).toMatch(/webhookpolicy\.hookgate\.io\/throttled\s+1\s+True/);
      expect(out).toContain('hookgate_egress_circuit_state{endpoint="initech-orders"} 2');
      expect(out).toContain('Done.');
    },
  );
});
