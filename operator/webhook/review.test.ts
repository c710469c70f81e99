import { describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { Reviewer, type AdmissionRequest } from './review.ts';

const defaults = {
  image: 'ghcr.io/hookgate/sidecar:0.1.0',
  cpuRequest: '50m',
  memoryRequest: '64Mi',
  cpuLimit: '1',
  memoryLimit: '256Mi',
  logLevel: 'info',
  drainTimeout: '10s',
};

function reviewer(generation: number | undefined, events: string[]): Reviewer {
  return new Reviewer({
    injector: { defaults, version: '0.1.0' },
    configGeneration: () => generation,
    log: createLogger({}, 'error'),
    events: (regarding, type, reason, note) =>
      events.push(`${type} ${reason} ${regarding.kind}/${regarding.metadata.name}: ${note}`),
  });
}

const request = (annotations: Record<string, string>, dryRun = false): AdmissionRequest => ({
  uid: 'u',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  operation: 'CREATE',
  namespace: 'shop',
  dryRun,
  object: {
    metadata: { name: 'web', annotations },
    spec: { containers: [{ name: 'app', image: 'a' }] },
  },
});

describe('Reviewer', () => {
  it('injects into a namespace with no published config, with a Warning Event', () => {
    const events: string[] = [];
    const result = reviewer(undefined, events).review(request({ 'hookgate.io/inject': 'true' }));
    expect(result.outcome).toBe('injected');
    expect(events).toEqual([
      expect.stringMatching(
        /^Warning NoSidecarConfig Pod\/web: pod web injected, but namespace shop has no published hookgate config yet/,
      ) as string,
    ]);
  });

  it('records no Event for a dry run (sideEffects: None)', () => {
    const events: string[] = [];
    const r = reviewer(undefined, events);
    r.review(request({ 'hookgate.io/inject': 'true' }, true));
    r.review(request({ 'hookgate.io/inject': 'false' }, true));
    expect(events).toEqual([]);
  });

  it('passes admission warnings for unknown hookgate.io annotations', () => {
    const result = reviewer(1, []).review(
      request({ 'hookgate.io/inject': 'true', 'hookgate.io/proxy-cpus': '1' }),
    );
    expect(result.response.warnings).toEqual([
      'annotation hookgate.io/proxy-cpus is not a hookgate injector setting and is ignored',
    ]);
  });
});
