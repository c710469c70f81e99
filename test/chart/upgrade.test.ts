// `helm upgrade` from the chart as released before the CRDs became templates (commit 233cf9f, its
// CRDs in crds/, which Helm never upgrades) to this chart, then `helm uninstall`, on a control
// plane of the test's own: the CRDs are cluster-wide and this test installs old ones (ADR 0018).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../cluster/controlplane.ts';
import { chartDir, helm, kubectl, root, run, type CommandResult } from './helm.ts';

/** The last commit whose chart shipped its CRDs in crds/. */
const OLD_CHART_COMMIT = '233cf9f';
const NAMESPACE = 'hookgate-system';
const APP = 'billing';
const CRDS = ['webhookendpoints.hookgate.io', 'webhookpolicies.hookgate.io'];

/** A user's endpoint whose URL carries user:pass@: the old CRD accepts it, the current refuses. */
const credentialUrlEndpoint = JSON.stringify({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: { name: 'with-password', namespace: APP },
  spec: { direction: 'Egress', url: 'https://user:pw@partner.example/hooks' },
});

describe('helm upgrade from the chart with crds/ to the chart with CRD templates', () => {
  let dir: string;
  let controlPlane: ControlPlane;
  let oldChart: string;

  beforeAll(async () => {
    await helm();
    dir = mkdtempSync(join(tmpdir(), 'hookgate-upgrade-'));
    controlPlane = await startControlPlane({ dir: join(dir, 'cluster') });
    oldChart = join(dir, 'old');
    mkdirSync(oldChart);
    const archive = execFileSync('git', ['archive', OLD_CHART_COMMIT, 'charts/hookgate'], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
    });
    execFileSync('tar', ['-x', '-C', oldChart], { input: archive });
    oldChart = join(oldChart, 'charts', 'hookgate');
  }, 600_000);
  afterAll(async () => {
    await controlPlane?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  async function helmRun(args: string[]): Promise<CommandResult> {
    return run(await helm(), args, {
      env: {
        KUBECONFIG: controlPlane.kubeconfigPath,
        HELM_CACHE_HOME: join(dir, 'helm-cache'),
        HELM_CONFIG_HOME: join(dir, 'helm-config'),
        HELM_DATA_HOME: join(dir, 'helm-data'),
      },
    });
  }
  function kube(args: string[], input?: string): CommandResult {
    try {
      const stdout = execFileSync(
        kubectl(),
        ['--kubeconfig', controlPlane.kubeconfigPath, ...args],
        {
          input,
          encoding: 'utf8',
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { code: e.status, stdout: e.stdout, stderr: e.stderr };
    }
  }
  /** `helm install|upgrade hookgate <chart> -n hookgate-system`, with `extra` flags. */
  async function release(verb: 'install' | 'upgrade', chart: string, ...extra: string[]) {
    return helmRun([verb, 'hookgate', chart, '-n', NAMESPACE, ...extra]);
  }
  function succeeded(result: CommandResult): void {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  }
  function dryRunCreate(manifest: string): CommandResult {
    return kube(['create', '--dry-run=server', '-f', '-'], manifest);
  }

  it('upgrades the CRDs, keeps users’ objects, and uninstall keeps CRDs and objects', async () => {
    succeeded(await release('install', oldChart, '--create-namespace'));
    expect(kube(['create', 'namespace', APP]).code).toBe(0);
    succeeded(
      kube([
        'apply',
        '-n',
        APP,
        '-f',
        join(root, 'examples', 'egress-hmac.yaml'),
        '-f',
        join(root, 'examples', 'policy-lenient.yaml'),
      ]),
    );
    // The old schema: a URL with a password is accepted.
    expect(dryRunCreate(credentialUrlEndpoint).code).toBe(0);

    // The old chart's CRDs were created from crds/, outside any release: a plain upgrade refuses
    // to adopt them, so the first upgrade takes ownership of them once (README, ADR 0018).
    const plain = await release('upgrade', chartDir);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toContain('cannot be imported into the current release');
    succeeded(await release('upgrade', chartDir, '--take-ownership'));
    // Later upgrades need no flag: the CRDs are the release's now.
    succeeded(await release('upgrade', chartDir));
    // The current schema is the one served now.
    const refused = dryRunCreate(credentialUrlEndpoint);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('spec.url must not carry user:pass@');
    for (const crd of CRDS) {
      const annotations = kube(['get', 'crd', crd, '-o', 'jsonpath={.metadata.annotations}']);
      expect(JSON.parse(annotations.stdout)).toMatchObject({ 'helm.sh/resource-policy': 'keep' });
    }
    // Users' objects came through the upgrade unchanged.
    expect(
      kube(['get', '-n', APP, 'webhookendpoint', 'partner-billing', '-o', 'jsonpath={.spec.url}'])
        .stdout,
    ).toBe('https://api.globex.example/webhooks/billing');
    expect(
      kube([
        'get',
        '-n',
        APP,
        'webhookpolicy',
        'internal-lenient',
        '-o',
        'jsonpath={.spec.retry.maxAttempts}',
      ]).stdout,
    ).toBe('6');

    const uninstalled = await helmRun(['uninstall', 'hookgate', '-n', NAMESPACE, '--wait']);
    expect(uninstalled.code).toBe(0);
    // Helm says what it kept.
    expect(uninstalled.stdout + uninstalled.stderr).toMatch(
      /kept due to the resource policy|resource policy/i,
    );
    // The operator is gone…
    expect(kube(['get', 'deployment', '-n', NAMESPACE, 'hookgate-operator']).stderr).toContain(
      'NotFound',
    );
    expect(
      kube(['get', 'mutatingwebhookconfiguration', 'hookgate-sidecar-injector']).stderr,
    ).toContain('NotFound');
    // …the CRDs and every user's object are not.
    for (const crd of CRDS) expect(kube(['get', 'crd', crd]).code).toBe(0);
    expect(kube(['get', '-n', APP, 'webhookendpoint', 'partner-billing']).code).toBe(0);
    expect(kube(['get', '-n', APP, 'webhookpolicy', 'internal-lenient']).code).toBe(0);
  }, 300_000);
});
