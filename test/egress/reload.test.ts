// A config that passes the schema but cannot be built used to be accepted by the watcher, after
// which every egress request answered 400 (issue 19). Plans are now built in the reload path:
// each such file is refused with its path, the last good config stays, and egress keeps serving.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { ConfigWatcher } from '../../sidecar/config/watch.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import { LOOPBACK_ALLOWED, WHSEC, startReceiver, type Receiver } from './harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookgate-reload-'));
const file = join(dir, 'sidecar.yaml');
writeFileSync(join(dir, 'good.key'), WHSEC);
writeFileSync(join(dir, 'bad.key'), 'whsec_not base64!');

let receiver: Receiver;
let watcher: ConfigWatcher;
let egress: EgressServer;
const rejected: (readonly string[])[] = [];

/** The config file with `settings` added to the one endpoint. */
function config(settings: string): string {
  return [
    'endpoints:',
    `  - name: orders`,
    `    url: ${receiver.url}/hook`,
    `    policy: { ${LOOPBACK_ALLOWED}${settings === '' ? '' : `, ${settings}`} }`,
    `    signing: { secrets: [{ source: { file: good.key } }] }`,
  ].join('\n');
}

beforeAll(async () => {
  receiver = await startReceiver();
  writeFileSync(file, config(''));
  watcher = await ConfigWatcher.start(file, {
    onChange: () => undefined,
    onRejected: (problems) => rejected.push(problems),
    pollMs: 0,
    debounceMs: 10_000,
  });
  egress = await startEgressServer('127.0.0.1', 0, {
    config: () => watcher.current,
    registry: new Registry(),
    log: createLogger({ test: 'reload' }, 'error'),
  });
});

afterAll(async () => {
  watcher.close();
  await egress.close(0);
  await receiver.close();
});

describe('a config that cannot be built', () => {
  it.each([
    [
      'backoff.max below backoff.initial',
      () => config('retry: { backoff: { initial: 1s, max: 100ms } }'),
      'endpoints[0].policy.retry.backoff.max: ',
    ],
    [
      'a breaker with no threshold',
      () => config('circuitBreaker: { openDuration: 5s }'),
      'endpoints[0].policy.circuitBreaker: ',
    ],
    [
      'a malformed whsec_ secret',
      () => config('').replace('good.key', 'bad.key'),
      'endpoints[0].signing: secrets[0] ',
    ],
  ])(
    '(%s) is refused at reload with its path, and egress keeps serving',
    async (_w, text, path) => {
      const before = watcher.current;
      writeFileSync(file, text());
      expect(await watcher.reload()).toBe('rejected');
      expect(rejected.at(-1)).toEqual([expect.stringContaining(path)]);
      expect(watcher.current).toBe(before);

      const seen = receiver.received.length;
      const res = await fetch(`http://127.0.0.1:${egress.port}/orders`, {
        method: 'POST',
        body: '{"type":"order.created"}',
      });
      expect(res.status).toBe(200);
      expect(receiver.received.length).toBe(seen + 1);
      expect(receiver.received.at(-1)!.headers['webhook-signature']).toMatch(/^v1,/);
    },
  );
});
