import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { OperatorError } from '../errors.ts';
import { fromKubeconfig, inCluster, loadClusterAccess, type ConfigEnvironment } from './config.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const folders: string[] = [];
afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the tests. */
function folder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  folders.push(dir);
  return dir;
}

/** Writes a kubeconfig with one context into a fresh folder; returns its path. */
function kubeconfig(
  cluster: Record<string, unknown>,
  user: Record<string, unknown>,
  files: Record<string, string> = {},
): string {
  const dir = folder('hookgate-kubeconfig-');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const path = join(dir, 'config');
  writeFileSync(
    path,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443/', ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

describe('fromKubeconfig', () => {
  // Each row: how the kubeconfig states cluster and user, and what the client gets.
  it.each([
    {
      what: 'inline client certificate and CA',
      cluster: { 'certificate-authority-data': b64('CA') },
      user: { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY' },
      headers: {},
    },
    {
      what: 'files relative to the kubeconfig, and a bearer token',
      cluster: { 'certificate-authority': 'ca.pem', 'tls-server-name': 'api.internal' },
      user: { token: 't0k3n' },
      tls: { ca: 'CA-FILE', servername: 'api.internal' },
      headers: { authorization: 'Bearer t0k3n' },
    },
    {
      what: 'a token file, and TLS verification switched off',
      cluster: { 'insecure-skip-tls-verify': true },
      user: { tokenFile: 'token' },
      tls: { rejectUnauthorized: false },
      headers: { authorization: 'Bearer from-file' },
    },
    {
      what: 'basic auth',
      cluster: {},
      user: { username: 'ada', password: 'pw' },
      tls: {},
      headers: { authorization: `Basic ${b64('ada:pw')}` },
    },
  ])('reads $what', async ({ cluster, user, tls, headers }) => {
    const access = await fromKubeconfig(
      kubeconfig(cluster, user, { 'ca.pem': 'CA-FILE', token: 'from-file\n' }),
    );
    expect(access.server).toBe('https://10.0.0.1:6443');
    expect(
      Object.fromEntries(Object.entries(access.tls).filter(([, v]) => v !== undefined)),
    ).toEqual(tls);
    expect(await access.headers()).toEqual(headers);
  });

  it('reads the context --context names, with its namespace, and refuses an unknown one', async () => {
    const path = join(folder('hookgate-kubeconfig-'), 'config');
    writeFileSync(
      path,
      stringify({
        clusters: [
          { name: 'dev', cluster: { server: 'https://dev:6443' } },
          { name: 'prod', cluster: { server: 'https://prod:6443' } },
        ],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [
          { name: 'dev', context: { cluster: 'dev', user: 'u' } },
          { name: 'prod', context: { cluster: 'prod', user: 'u', namespace: 'shop' } },
        ],
        'current-context': 'dev',
      }),
    );
    expect(await fromKubeconfig(path)).toMatchObject({ server: 'https://dev:6443' });
    expect((await fromKubeconfig(path)).namespace).toBeUndefined();
    expect(await fromKubeconfig(path, 'prod')).toMatchObject({
      server: 'https://prod:6443',
      namespace: 'shop',
    });
    await expect(fromKubeconfig(path, 'staging')).rejects.toThrow('no context "staging"');
  });

  it('refuses a kubeconfig without a usable current context, naming the file', async () => {
    const dir = folder('hookgate-kubeconfig-');
    const path = join(dir, 'config');
    writeFileSync(path, 'apiVersion: v1\nkind: Config\n');
    await expect(fromKubeconfig(path)).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: expect.stringContaining(path) as unknown,
    });
    await expect(fromKubeconfig(join(dir, 'missing'))).rejects.toBeInstanceOf(OperatorError);
  });
});

describe('loadClusterAccess', () => {
  const serviceAccountDir = folder('hookgate-sa-');
  writeFileSync(join(serviceAccountDir, 'ca.crt'), 'POD-CA');
  writeFileSync(join(serviceAccountDir, 'token'), 'pod-token\n');
  const home = folder('hookgate-home-');
  mkdirSync(join(home, '.kube'));
  writeFileSync(
    join(home, '.kube', 'config'),
    stringify({
      clusters: [{ name: 'c', cluster: { server: 'https://home:6443' } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  const fromEnv = kubeconfig({}, {});
  const environment = (env: NodeJS.ProcessEnv): ConfigEnvironment => ({
    env,
    home,
    serviceAccountDir,
  });
  const pod = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  // Each row: what is available, and which source wins (flag, $KUBECONFIG, pod, home).
  it.each([
    { flag: fromEnv, env: { KUBECONFIG: '/nope', ...pod }, server: 'https://10.0.0.1:6443' },
    {
      flag: undefined,
      env: { KUBECONFIG: `${fromEnv}:/other`, ...pod },
      server: 'https://10.0.0.1:6443',
    },
    { flag: undefined, env: pod, server: 'https://10.96.0.1:443' },
    { flag: undefined, env: {}, server: 'https://home:6443' },
  ])('→ $server', async ({ flag, env, server }) => {
    expect((await loadClusterAccess(flag, environment(env))).server).toBe(server);
  });

  it('uses the pod ServiceAccount token and CA in a cluster, IPv6 hosts bracketed', async () => {
    const access = inCluster(environment({ KUBERNETES_SERVICE_HOST: 'fd00::1' }))!;
    expect(access.server).toBe('https://[fd00::1]:443');
    expect(access.tls.ca).toBe('POD-CA');
    expect(await access.headers()).toEqual({ authorization: 'Bearer pod-token' });
  });
});
