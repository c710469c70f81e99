// The two programs as users run them: real processes, configured by environment, against the
// real test control plane.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../cluster/process.ts';

const root = resolve(import.meta.dirname, '../..');
const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGKILL');
});

/** Starts a program and resolves with the port its admin server logged, and its log lines. */
async function startProgram(
  program: 'operator' | 'sidecar',
  env: NodeJS.ProcessEnv,
): Promise<{ port: number; lines: Record<string, unknown>[]; child: ChildProcess }> {
  // The operator's admission webhook needs a Secret namespace and a port of its own: off here.
  const args = program === 'operator' ? ['--webhook-addr='] : [];
  const child = spawn(process.execPath, [join(root, program, 'main.ts'), ...args], {
    env: { ...process.env, HOOKGATE_ADMIN_ADDR: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  const lines: Record<string, unknown>[] = [];
  const port = await new Promise<number>((resolvePort, reject) => {
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => reject(new Error(`${program} exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry['msg'] === 'admin server listening') resolvePort(entry['port'] as number);
    });
  });
  return { port, lines, child };
}

describe('hookgate-operator', () => {
  it('is ready when the API server answers and logs that it connected', async () => {
    const { port, lines } = await startProgram('operator', { KUBECONFIG: inject('kubeconfig') });
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await res.text()).toBe('ok\n');
    expect(res.status).toBe(200);
    await expect.poll(() => lines.map((l) => l['msg'])).toContain('connected to the API server');
  });

  it('is not ready, naming the API server, when it cannot reach one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-kubeconfig-'));
    const deadServer = `https://127.0.0.1:${await freePort()}`;
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: deadServer } }],
        users: [{ name: 'u', user: { token: 'not-a-real-token' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    const { port } = await startProgram('operator', { KUBECONFIG: kubeconfig });
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(body).toContain(`not ready: kubernetes: API server ${deadServer} unreachable`);
    expect(body).not.toContain('not-a-real-token');
  });
});

describe('hookgate-sidecar', () => {
  it('is live, exports metrics, and is not ready without a configuration', async () => {
    const { port } = await startProgram('sidecar', {});
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([
      503,
      'not ready: config: no configuration loaded\n',
    ]);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^hookgate_build_info\{program="sidecar"/m);
  });

  it('refuses a malformed admin address with the variable named, exit status 2', async () => {
    const child = spawn(process.execPath, [join(root, 'sidecar', 'main.ts')], {
      env: { ...process.env, HOOKGATE_ADMIN_ADDR: 'nonsense' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(stderr).toContain('HOOKGATE_ADMIN_ADDR="nonsense" is not host:port');
  });
});
