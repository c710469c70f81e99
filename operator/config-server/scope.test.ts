import { describe, expect, it } from 'vitest';
import { SECRET_MOUNT_PATH } from '../names.ts';
import { scopeConfig, type NamespaceConfig } from './scope.ts';

const file = (key: string): { file: string } => ({ file: `${SECRET_MOUNT_PATH}/${key}` });
const ns: NamespaceConfig = {
  namespace: 'shop',
  generation: 7,
  document: {
    namespace: 'shop',
    endpoints: [
      {
        name: 'orders',
        url: 'https://a.example',
        signing: { secrets: [{ source: file('a_k_1') }] },
      },
      {
        name: 'billing',
        url: 'https://b.example',
        signing: { secrets: [{ source: file('b_k_1') }] },
      },
      {
        name: 'shared',
        url: 'https://c.example',
        signing: { secrets: [{ source: file('c_k_1') }] },
      },
    ],
    ingress: [],
    dynamic: [],
  },
  secretData: { a_k_1: 'QQ==', b_k_1: 'Qg==', c_k_1: 'Qw==' },
};
const selectors = (name: string): { matchLabels: Record<string, string> } | undefined =>
  name === 'orders'
    ? { matchLabels: { app: 'orders' } }
    : name === 'billing'
      ? { matchLabels: { app: 'billing' } }
      : undefined;

describe('scopeConfig', () => {
  it.each([
    // Each workload holds its own endpoint, the unselected one, and only those secrets.
    ['orders', ['orders', 'shared'], ['a_k_1', 'c_k_1']],
    ['billing', ['billing', 'shared'], ['b_k_1', 'c_k_1']],
    // A pod no selector matches gets only what every pod gets.
    ['other', ['shared'], ['c_k_1']],
  ])('pod app=%s', (app, names, keys) => {
    const view = scopeConfig(ns, { app }, selectors);
    const doc = JSON.parse(view.config.replace(/^#[^\n]*\n/, '')) as {
      generation: number;
      endpoints: { name: string }[];
    };
    expect(doc.generation).toBe(7);
    expect(doc.endpoints.map((e) => e.name)).toEqual(names);
    expect(Object.keys(view.secrets)).toEqual(keys.map((k) => `${SECRET_MOUNT_PATH}/${k}`));
    expect(view.missing).toEqual([]);
  });

  it('reports keys the published Secret does not hold yet', () => {
    const view = scopeConfig(
      { ...ns, secretData: { c_k_1: 'Qw==' } },
      { app: 'orders' },
      selectors,
    );
    expect(view.missing).toEqual(['a_k_1']);
  });

  it('gives equal views equal digests and different views different ones', () => {
    const a = scopeConfig(ns, { app: 'orders' }, selectors);
    expect(scopeConfig(ns, { app: 'orders', tier: 'x' }, selectors).digest).toBe(a.digest);
    expect(scopeConfig(ns, { app: 'billing' }, selectors).digest).not.toBe(a.digest);
  });
});
