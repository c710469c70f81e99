import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

describe('createServer through require()', () => {
  it("leaves Node's bundled undici unloaded in the servers' modules, which an ESM import of node:http loads", () => {
    // A fresh process each: vitest's own worker has long since loaded everything.
    const loads = (code: string): boolean =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `${code}\nprocess.stdout.write(String(process.moduleLoadList.some((m) => m.includes('deps/undici'))));`,
        ],
        { encoding: 'utf8' },
      ) === 'true';
    // The cost avoided, shown on the spot: one ESM import of node:http loads it.
    expect(loads("import 'node:http';")).toBe(true);
    const modules = [
      'sidecar/egress/server.ts',
      'sidecar/ingress/server.ts',
      'common/admin.ts',
      'common/http-server.ts',
    ].map((m) => `await import(${JSON.stringify(join(root, m))});`);
    expect(loads(modules.join('\n'))).toBe(false);
  });
});
