import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { KubeApiError, OperatorError } from '../errors.ts';
import { Informer, type CacheChange, type ListerWatcher, type RestartReason } from './informer.ts';
import type { KubeList, KubeObject, WatchEvent } from './types.ts';

/** One watch the informer opened: the test feeds it events, ends it or breaks it. */
interface OpenWatch {
  readonly resourceVersion: string;
  readonly signal: AbortSignal;
  open(): void;
  emit(event: WatchEvent): void;
  end(): void;
  fail(err: Error): void;
}

/** An API server in memory: a list answer from its objects, watches the test drives. */
class FakeSource implements ListerWatcher {
  objects = new Map<string, KubeObject>();
  resourceVersion = 100;
  lists: { continue?: string | undefined }[] = [];
  watches: OpenWatch[] = [];
  pageSize = 1000;
  #waiters: ((w: OpenWatch) => void)[] = [];

  put(name: string, extra: Record<string, unknown> = {}): KubeObject {
    const object = {
      metadata: { name, namespace: 'ns', resourceVersion: String(++this.resourceVersion) },
      ...extra,
    };
    this.objects.set(name, object);
    return object;
  }

  list({ continue: next }: { limit: number; continue?: string | undefined }): Promise<KubeList> {
    this.lists.push({ continue: next });
    const all = [...this.objects.values()];
    const start = next === undefined ? 0 : Number(next);
    const items = all.slice(start, start + this.pageSize);
    const more = start + this.pageSize < all.length;
    return Promise.resolve({
      metadata: {
        resourceVersion: String(this.resourceVersion),
        ...(more ? { continue: String(start + this.pageSize) } : {}),
      },
      items,
    });
  }

  watch(
    resourceVersion: string,
    onOpen: () => void,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error('aborted')));
      const watch: OpenWatch = {
        resourceVersion,
        signal,
        open: onOpen,
        emit: onEvent,
        end: () => resolve(),
        fail: reject,
      };
      this.watches.push(watch);
      this.#waiters.shift()?.(watch);
    });
  }

  /** The watch opened after `count` watches: resolves once the informer opens it. */
  async watchNumber(count: number): Promise<OpenWatch> {
    while (this.watches.length < count) await vi.advanceTimersByTimeAsync(10);
    return this.watches[count - 1]!;
  }
}

const silent = createLogger({}, 'error', () => undefined);

function informerFor(
  source: FakeSource,
  extra: { now?: () => number } = {},
): {
  informer: Informer;
  changes: string[];
  restarts: RestartReason[];
} {
  const changes: string[] = [];
  const restarts: RestartReason[] = [];
  const informer = new Informer({
    resource: 'things',
    source,
    log: silent,
    watchdogMs: 5_000,
    backoff: { initialMs: 1_000, maxMs: 8_000 },
    onRestart: (r) => restarts.push(r),
    ...extra,
  });
  informer.onChange((c: CacheChange) => changes.push(`${c.type} ${c.object.metadata.name}`));
  return { informer, changes, restarts };
}

describe('Informer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists in pages, then follows the watch from the list version and resumes after a clean end', async () => {
    const source = new FakeSource();
    source.pageSize = 2;
    for (const n of ['a', 'b', 'c']) source.put(n);
    const { informer, changes } = informerFor(source);
    informer.start();
    await informer.whenSynced();
    expect(source.lists).toEqual([{ continue: undefined }, { continue: '2' }]);
    expect(changes).toEqual(['add a', 'add b', 'add c']);

    const first = await source.watchNumber(1);
    expect(first.resourceVersion).toBe('103');
    first.open();
    first.emit({ type: 'MODIFIED', object: source.put('a', { v: 2 }) });
    first.emit({ type: 'DELETED', object: source.objects.get('b')! });
    first.emit({ type: 'BOOKMARK', object: { metadata: { name: '', resourceVersion: '200' } } });
    expect(changes.slice(3)).toEqual(['update a', 'delete b']);
    expect(informer.list('ns').map((o) => o.metadata.name)).toEqual(['a', 'c']);

    // The server's timeout ends the watch: resume from the bookmark, no second list.
    first.end();
    const second = await source.watchNumber(2);
    expect(second.resourceVersion).toBe('200');
    expect(source.lists).toHaveLength(2);
    await informer.stop();
  });

  it('lists again on 410 Gone and reports what changed while it could not watch', async () => {
    const source = new FakeSource();
    source.put('stays');
    source.put('goes');
    const { informer, changes, restarts } = informerFor(source);
    informer.start();
    const first = await source.watchNumber(1);
    source.objects.delete('goes');
    source.put('new');
    first.fail(new KubeApiError('WATCH', '/things', 410, 'Expired', 'too old resource version'));
    const second = await source.watchNumber(2);
    expect(restarts).toEqual(['expired']);
    expect(source.lists).toHaveLength(2);
    expect(second.resourceVersion).toBe(String(source.resourceVersion));
    expect(changes).toEqual(['add stays', 'add goes', 'delete goes', 'add new']);
    await informer.stop();
  });

  it('aborts a watch silent past the watchdog and lists again', async () => {
    const source = new FakeSource();
    source.put('a');
    const { informer, restarts } = informerFor(source);
    informer.start();
    const first = await source.watchNumber(1);
    first.open();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(first.signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(first.signal.aborted).toBe(true);
    expect((first.signal.reason as OperatorError).code).toBe('ERR_WATCH_STALLED');
    await source.watchNumber(2);
    expect(restarts).toEqual(['stalled']);
    expect(source.lists).toHaveLength(2);
    await informer.stop();
  });

  it('retries a broken watch from the same version with growing delays, unhealthy while down', async () => {
    const source = new FakeSource();
    source.put('a');
    const { informer, restarts } = informerFor(source, { now: () => Date.now() });
    informer.start();
    const times: number[] = [];
    for (let n = 1; n <= 3; n++) {
      const watch = await source.watchNumber(n);
      times.push(Date.now());
      expect(watch.resourceVersion).toBe('101');
      watch.fail(new OperatorError('ERR_KUBE_UNREACHABLE', 503, 'ECONNRESET'));
    }
    await vi.advanceTimersByTimeAsync(0);
    expect([times[1]! - times[0]!, times[2]! - times[1]!]).toEqual([1_000, 2_000]);
    expect(restarts).toEqual(['error', 'error', 'error']);
    expect(source.lists).toHaveLength(1);
    expect(informer.unhealthy(2_500)).toMatch(/^things: no watch for \ds$/);
    const fourth = await source.watchNumber(4);
    fourth.open();
    expect(informer.unhealthy(2_500)).toBeUndefined();
    await informer.stop();
  });

  it('keeps an own write over an older watch event, and does not report it back', async () => {
    const source = new FakeSource();
    const { informer, changes } = informerFor(source);
    informer.start();
    const watch = await source.watchNumber(1);
    const older = source.put('x', { v: 'theirs' });
    const mine = source.put('x', { v: 'mine' });
    informer.upsert(mine);
    watch.emit({ type: 'MODIFIED', object: older });
    watch.emit({ type: 'MODIFIED', object: mine });
    expect(informer.get('ns', 'x')?.['v']).toBe('mine');
    expect(changes).toEqual([]);
    await informer.stop();
  });

  it('tells own-write handlers of an own write once, whichever of write and watch event comes first', async () => {
    const source = new FakeSource();
    const { informer, changes } = informerFor(source);
    const own: string[] = [];
    informer.onOwnWrite((c) => own.push(`${c.type}:${String(c.object['v'])}`));
    informer.start();
    const watch = await source.watchNumber(1);
    // The write's answer first: the own-write handler hears it, the watch event after it is dropped.
    const first = source.put('x', { v: 'one' });
    informer.upsert(first);
    watch.emit({ type: 'ADDED', object: first });
    // The watch event first: change handlers hear it, the answer after it carries nothing new.
    const second = source.put('x', { v: 'two' });
    watch.emit({ type: 'MODIFIED', object: second });
    informer.upsert(second);
    // An answer older than the cache: stored nowhere, told to nobody.
    informer.upsert(first);
    expect(own).toEqual(['add:one']);
    expect(changes).toEqual(['update x']);
    expect(informer.get('ns', 'x')?.['v']).toBe('two');
    await informer.stop();
  });
});
