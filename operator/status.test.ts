import { describe, expect, it } from 'vitest';
import { metaTime, microTime } from './clock.ts';
import type { EndpointResult, PolicyResult } from './compile/compile.ts';
import { CONDITION, REASON } from './names.ts';
import {
  endpointStatus,
  notEnabledStatus,
  policyStatus,
  sizeNotice,
  statusDiffers,
  transitions,
  withTimes,
  type PreviousStatus,
} from './status.ts';

const t0 = new Date('2026-05-01T10:00:00.789Z');
const t1 = new Date('2026-05-01T11:30:00.123Z');
const ok: EndpointResult = { name: 'e', accepted: { ok: true }, policy: 'p', entry: '{}' };
const missing: EndpointResult = {
  name: 'e',
  accepted: { ok: false, reason: REASON.secretNotFound, message: 'Secret "k" is gone' },
  policy: undefined,
  entry: undefined,
};

describe('time formats', () => {
  it('writes metav1.Time in whole seconds, as the API server stores it', () => {
    expect(metaTime(t0)).toBe('2026-05-01T10:00:00Z');
  });
  it('writes metav1.MicroTime with six fraction digits', () => {
    expect(microTime(t0)).toBe('2026-05-01T10:00:00.789000Z');
  });
});

describe('withTimes', () => {
  const before = withTimes(
    undefined,
    [{ type: 'Ready', status: 'True', reason: 'Published', message: 'gen 1' }],
    1,
    t0,
  );
  // Each row: the next condition and whether lastTransitionTime moves.
  it.each([
    { what: 'same status, new message', status: 'True', reason: 'Published', moves: false },
    { what: 'same status, new reason', status: 'True', reason: 'Other', moves: false },
    { what: 'status flips', status: 'False', reason: 'NotAccepted', moves: true },
  ] as const)('$what → moves: $moves', ({ status, reason, moves }) => {
    const [next] = withTimes(before, [{ type: 'Ready', status, reason, message: 'gen 2' }], 2, t1);
    expect(next?.lastTransitionTime).toBe(moves ? '2026-05-01T11:30:00Z' : '2026-05-01T10:00:00Z');
    expect(next?.observedGeneration).toBe(2);
  });
});

describe('endpointStatus', () => {
  const context = { generation: 3, configGeneration: 7, now: t1 };
  const readyAt4: PreviousStatus = {
    observedGeneration: 3,
    configGeneration: 4,
    conditions: [{ type: CONDITION.ready, status: 'True', lastTransitionTime: metaTime(t0) }],
  };

  it('reports Accepted and Ready with the generation it was published in, and the policy', () => {
    const status = endpointStatus(ok, undefined, false, context);
    expect(status).toEqual({
      observedGeneration: 3,
      configGeneration: 7,
      policy: 'p',
      conditions: [
        expect.objectContaining({
          type: 'Accepted',
          status: 'True',
          reason: 'Accepted',
        }) as unknown,
        expect.objectContaining({
          type: 'Ready',
          status: 'True',
          reason: 'Published',
          message: expect.stringContaining('config generation 7') as unknown,
        }) as unknown,
      ],
    });
  });

  // Each row: whether the entry changed and whether the earlier generation is kept.
  it.each([
    { what: 'an unchanged entry keeps its generation', unchanged: true, expected: 4 },
    { what: 'a changed entry takes the new one', unchanged: false, expected: 7 },
  ])('$what', ({ unchanged, expected }) => {
    expect(endpointStatus(ok, readyAt4, unchanged, context).configGeneration).toBe(expected);
  });

  it('is not Ready while not Accepted, repeating why, and carries no generation', () => {
    const status = endpointStatus(missing, readyAt4, true, context);
    expect(status.configGeneration).toBeUndefined();
    expect(status.policy).toBeUndefined();
    expect(status.conditions.map((c) => [c.type, c.status, c.reason, c.message])).toEqual([
      ['Accepted', 'False', 'SecretNotFound', 'Secret "k" is gone'],
      ['Ready', 'False', 'NotAccepted', 'not published: Secret "k" is gone'],
    ]);
  });
});

describe('policyStatus', () => {
  const result: PolicyResult = {
    name: 'young',
    accepted: { ok: true },
    inEffectFor: 1,
    overriddenBy: new Map([['old', ['a', 'b']]]),
  };
  it('reports Conflicted naming the winner and the endpoints it takes', () => {
    const status = policyStatus(result, undefined, { generation: 1, configGeneration: 2, now: t0 });
    expect(status.selectedEndpoints).toBe(1);
    expect(status.conditions.find((c) => c.type === 'Conflicted')).toMatchObject({
      status: 'True',
      reason: 'Overridden',
      message: expect.stringContaining(
        'the older WebhookPolicy "old" is in effect for a, b',
      ) as unknown,
    });
  });
  it('keeps its configGeneration while its spec generation stays', () => {
    const first = policyStatus(result, undefined, { generation: 1, configGeneration: 2, now: t0 });
    const again = policyStatus(result, first, { generation: 1, configGeneration: 5, now: t1 });
    expect(again.configGeneration).toBe(2);
    const edited = policyStatus(result, first, { generation: 2, configGeneration: 5, now: t1 });
    expect(edited.configGeneration).toBe(5);
  });
});

describe('statusDiffers and transitions', () => {
  const context = { generation: 1, configGeneration: 1, now: t0 };
  const status = endpointStatus(ok, undefined, false, context);

  it('sees no difference in a status equal to the one written, other writers aside', () => {
    const readBack = {
      ...status,
      conditions: [
        ...status.conditions,
        { type: 'SomeoneElse', status: 'True' as const, reason: 'X', message: '' },
      ],
    };
    expect(statusDiffers(readBack, endpointStatus(ok, readBack, true, context))).toBe(false);
  });

  it('sees a difference when the policy in effect changes', () => {
    const next = endpointStatus({ ...ok, policy: 'q' }, status, true, context);
    expect(statusDiffers(status, next)).toBe(true);
  });

  it('reports new conditions, and changed status or reason, but not a changed message', () => {
    expect(transitions(undefined, status).map((t) => [t.type, t.initial])).toEqual([
      ['Accepted', true],
      ['Ready', true],
    ]);
    const broken = endpointStatus(missing, status, false, context);
    expect(transitions(status, broken).map((t) => [t.type, t.status, t.initial])).toEqual([
      ['Accepted', 'False', false],
      ['Ready', 'False', false],
    ]);
    const later = endpointStatus(ok, status, false, { ...context, configGeneration: 9 });
    expect(transitions(status, later)).toEqual([]);
  });
});

describe('notEnabledStatus', () => {
  it('says the namespace has not opted in and how to opt in; a published endpoint turns not Ready', () => {
    const published = endpointStatus(ok, undefined, false, {
      generation: 3,
      configGeneration: 5,
      now: t0,
    });
    const next = notEnabledStatus('shop', published, { generation: 3, now: t1 });
    expect(next.observedGeneration).toBe(3);
    expect(next.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      [CONDITION.accepted, 'Unknown', REASON.namespaceNotEnabled],
      [CONDITION.ready, 'False', REASON.namespaceNotEnabled],
    ]);
    for (const c of next.conditions) {
      expect(c.message).toContain('namespace shop has not opted in');
      expect(c.message).toContain('label it hookgate.io/injection=enabled');
      expect(c.lastTransitionTime).toBe(metaTime(t1));
    }
    expect(statusDiffers(published, next)).toBe(true);
    // Written once: the same again is no write, and keeps its transition time.
    const again = notEnabledStatus('shop', next, {
      generation: 3,
      now: new Date(t1.getTime() + 60_000),
    });
    expect(statusDiffers(next, again)).toBe(false);
    expect(again.conditions[1]!.lastTransitionTime).toBe(metaTime(t1));
  });
});

describe('size notices', () => {
  const limits = { nearBytes: 800 * 1024, maxBytes: 1024 * 1024 };
  const near = sizeNotice('shop', 'near', limits, 7);
  const over = sizeNotice('shop', 'over', limits, 7);
  const context = { generation: 3, configGeneration: 7, now: t1 };
  const readyAt4: PreviousStatus = {
    observedGeneration: 3,
    configGeneration: 4,
    conditions: [{ type: CONDITION.ready, status: 'True', lastTransitionTime: metaTime(t0) }],
  };
  const ready = (s: {
    conditions: { type: string; status: string; reason: string; message: string }[];
  }): { status: string; reason: string; message: string } | undefined =>
    s.conditions.find((c) => c.type === CONDITION.ready);

  it('says nothing while the config fits', () => {
    expect(sizeNotice('shop', 'fits', limits, 7)).toBeUndefined();
  });

  it('names the thresholds, what still works and the fix, never the exact size', () => {
    expect(near?.message).toBe(
      'the sidecar config of namespace shop is past 800 KiB of the 1,024 KiB a ConfigMap holds: past the limit, changes in this namespace are not published; move endpoints to another namespace or delete unused ones',
    );
    expect(over?.message).toContain('over the 1,024 KiB a ConfigMap holds');
    expect(over?.message).toContain(
      'config generation 7 stays in force for every sidecar (mounted and streamed)',
    );
    expect(sizeNotice('shop', 'over', limits, 0)?.message).toContain('nothing is published here');
  });

  // Each row: the notice, whether the entry is the one published before, and what Ready says.
  it.each([
    {
      what: 'near: published, warned',
      size: near,
      unchanged: false,
      want: ['True', 'ConfigNearSizeLimit', 7],
    },
    {
      what: 'over, entry already published: still in force',
      size: over,
      unchanged: true,
      want: ['True', 'ConfigTooLarge', 4],
    },
    {
      what: 'over, entry new or changed: not published',
      size: over,
      unchanged: false,
      want: ['False', 'ConfigTooLarge', undefined],
    },
  ])('$what', ({ size, unchanged, want }) => {
    const status = endpointStatus(ok, readyAt4, unchanged, { ...context, size });
    const r = ready(status);
    expect([r?.status, r?.reason, status.configGeneration]).toEqual(want);
    expect(r?.message).toContain(size!.message);
  });

  it('turns a policy whose new spec cannot be published not Ready; an unchanged one stays', () => {
    const result: PolicyResult = {
      name: 'p',
      accepted: { ok: true },
      inEffectFor: 2,
      overriddenBy: new Map(),
    };
    const first = policyStatus(result, undefined, { generation: 1, configGeneration: 4, now: t0 });
    const same = policyStatus(result, first, {
      generation: 1,
      configGeneration: 4,
      now: t1,
      size: over,
    });
    expect([ready(same)?.status, ready(same)?.reason, same.configGeneration]).toEqual([
      'True',
      'ConfigTooLarge',
      4,
    ]);
    const edited = policyStatus(result, first, {
      generation: 2,
      configGeneration: 4,
      now: t1,
      size: over,
    });
    expect([ready(edited)?.status, ready(edited)?.reason, edited.configGeneration]).toEqual([
      'False',
      'ConfigTooLarge',
      undefined,
    ]);
  });

  it('marks a reason-only change so it can be left out of per-object Events', () => {
    const published = endpointStatus(ok, undefined, false, context);
    const warned = endpointStatus(ok, published, true, { ...context, size: near });
    expect(transitions(published, warned).map((t) => [t.reason, t.statusChanged])).toEqual([
      ['ConfigNearSizeLimit', false],
    ]);
  });
});
