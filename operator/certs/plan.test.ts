import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nextCheck, planTls, type CertPolicy, type TlsData } from './plan.ts';
import { parseBundle } from './x509.ts';

const HOUR = 3_600_000;
const policy: CertPolicy = {
  caValidityMs: 300 * HOUR,
  certValidityMs: 30 * HOUR,
  hosts: ['hookgate-operator-webhook.hookgate-system.svc', '127.0.0.1'],
  caPropagationMs: HOUR,
};
const t0 = new Date('2026-11-29T00:00:00Z');
const at = (hours: number): Date => new Date(t0.getTime() + hours * HOUR);

const issuer = (data: TlsData): string => new X509Certificate(data['tls.crt']!).issuer;
const caSubjects = (data: TlsData): string[] => parseBundle(data['ca.crt']!).map((c) => c.subject);

describe('planTls', () => {
  const first = planTls(undefined, t0, policy, undefined)!;

  it('creates a CA and a serving certificate for an empty Secret, then leaves them be', () => {
    expect(first.reasons).toEqual(['no CA', 'no valid serving certificate']);
    const leaf = new X509Certificate(first.data['tls.crt']);
    const ca = new X509Certificate(first.data['ca.crt']);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkHost(policy.hosts[0]!)).toBeDefined();
    expect(planTls(first.data, at(1), policy, first.data['ca.crt'])).toBeUndefined();
  });

  it('renews the serving certificate at two thirds of its life, with the same CA', () => {
    expect(planTls(first.data, at(19), policy, first.data['ca.crt'])).toBeUndefined();
    const renewed = planTls(first.data, at(20.5), policy, first.data['ca.crt'])!;
    expect(renewed.reasons).toEqual(['serving certificate due for renewal']);
    expect(renewed.data['ca.crt']).toBe(first.data['ca.crt']);
    expect(renewed.data['tls.crt']).not.toBe(first.data['tls.crt']);
  });

  it('rotates the CA with an overlap: new CA first, serving certificate moves only once trusted', () => {
    // Keep the serving certificate fresh so only the CA is due.
    let data = planTls(first.data, at(190), policy, first.data['ca.crt'])!.data;
    expect(planTls(data, at(199), policy, data['ca.crt'])).toBeUndefined();
    const rotated = planTls(data, at(200.5), policy, data['ca.crt'])!;
    expect(rotated.reasons).toEqual(['CA due for rotation']);
    expect(caSubjects(rotated.data)).toHaveLength(2);
    // Same serving certificate, still signed by the old CA, which the bundle still holds.
    expect(rotated.data['tls.crt']).toBe(data['tls.crt']);
    const oldCaBundle = data['ca.crt'];
    data = rotated.data;

    // Propagation time passed, but the caBundle does not hold the new CA yet: wait.
    expect(planTls(data, at(202), policy, oldCaBundle)).toBeUndefined();
    // Trusted, but within the propagation time: wait.
    expect(planTls(data, at(200.7), policy, data['ca.crt'])).toBeUndefined();
    // Trusted and settled: move.
    const moved = planTls(data, at(202), policy, data['ca.crt'])!;
    expect(moved.reasons).toEqual(['serving certificate moves to the new CA']);
    expect(issuer(moved.data)).toBe(caSubjects(moved.data)[0]);
    expect(caSubjects(moved.data)).toHaveLength(2);

    // The old CA leaves the bundle when it expires.
    const dropped = planTls(moved.data, at(300.5), policy, moved.data['ca.crt'])!;
    expect(caSubjects(dropped.data)).toEqual([caSubjects(moved.data)[0]]);
  });

  it('re-issues when the keys do not match the certificates', () => {
    const broken = { ...first.data, 'tls.key': first.data['ca.key'] };
    expect(planTls(broken, at(1), policy, first.data['ca.crt'])!.reasons).toEqual([
      'no valid serving certificate',
    ]);
    const noCaKey = { ...first.data, 'ca.key': undefined };
    const plan = planTls(noCaKey, at(1), policy, undefined)!;
    expect(plan.reasons[0]).toBe('CA key missing or not matching');
    // The previous CA stays trusted next to the new one.
    expect(caSubjects(plan.data)).toHaveLength(2);
  });

  it('re-issues when the hosts change', () => {
    const plan = planTls(
      first.data,
      at(1),
      { ...policy, hosts: [...policy.hosts, 'x.svc'] },
      first.data['ca.crt'],
    );
    expect(plan?.reasons).toEqual(['serving certificate does not cover every host']);
  });

  it('knows when to look again', () => {
    expect(nextCheck(first.data, policy, at(2)).getTime()).toBe(at(20).getTime());
  });
});
