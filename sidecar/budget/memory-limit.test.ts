import { describe, expect, it } from 'vitest';
import { detectMemoryLimit, parseMemoryLimit, type ReadText } from './memory-limit.ts';

const MiB = 2 ** 20;
/** A reader over an in-memory file tree. */
const files =
  (tree: Record<string, string>): ReadText =>
  (path) =>
    tree[path];

describe('detectMemoryLimit', () => {
  it.each([
    // cgroup v1 (this machine's kind): the process's own group sets the limit
    [
      'v1, own group',
      {
        '/proc/self/cgroup': '5:cpu:/\n4:memory:/pods/p1\n0::/\n',
        '/sys/fs/cgroup/memory/pods/p1/memory.limit_in_bytes': '268435456\n',
        '/sys/fs/cgroup/memory/pods/memory.limit_in_bytes': '9223372036854771712\n',
        '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712\n',
      },
      { bytes: 256 * MiB, source: 'cgroup-v1' },
    ],
    // v1: an ancestor is tighter than the group itself — the tightest wins
    [
      'v1, tighter parent',
      {
        '/proc/self/cgroup': '4:memory:/pods/p1\n',
        '/sys/fs/cgroup/memory/pods/p1/memory.limit_in_bytes': '536870912',
        '/sys/fs/cgroup/memory/pods/memory.limit_in_bytes': '134217728',
      },
      { bytes: 128 * MiB, source: 'cgroup-v1' },
    ],
    // v1 with co-mounted controllers (memory listed among others)
    [
      'v1, co-mounted',
      {
        '/proc/self/cgroup': '3:cpuacct,memory:/x\n',
        '/sys/fs/cgroup/memory/x/memory.limit_in_bytes': '67108864',
      },
      { bytes: 64 * MiB, source: 'cgroup-v1' },
    ],
    // v2 in a container with its own cgroup namespace: the path is / and the root file is ours
    [
      'v2, namespaced',
      { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': '268435456\n' },
      { bytes: 256 * MiB, source: 'cgroup-v2' },
    ],
    // v2 nested: "max" means no limit at that level; the parent's number is used
    [
      'v2, parent limit',
      {
        '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
        '/sys/fs/cgroup/kubepods/pod1/c1/memory.max': 'max\n',
        '/sys/fs/cgroup/kubepods/pod1/memory.max': '201326592\n',
      },
      { bytes: 192 * MiB, source: 'cgroup-v2' },
    ],
  ])('%s', (_, tree, expected) => {
    expect(detectMemoryLimit({}, files(tree))).toEqual(expected);
  });

  it.each([
    // v1, every level unlimited
    [
      'v1 unlimited',
      {
        '/proc/self/cgroup': '4:memory:/\n',
        '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712',
      },
    ],
    // v2 "max" everywhere
    [
      'v2 max',
      {
        '/proc/self/cgroup': '0::/a\n',
        '/sys/fs/cgroup/a/memory.max': 'max',
        '/sys/fs/cgroup/memory.max': 'max',
      },
    ],
    // not Linux, or /proc not mounted
    ['no /proc', {}],
  ])('%s: no limit', (_, tree) => {
    expect(detectMemoryLimit({}, files(tree))).toBeUndefined();
  });

  it('prefers HOOKGATE_MEMORY_LIMIT (the injector’s downward API value) over the cgroup', () => {
    const tree = {
      '/proc/self/cgroup': '0::/\n',
      '/sys/fs/cgroup/memory.max': '1073741824',
    };
    expect(detectMemoryLimit({ HOOKGATE_MEMORY_LIMIT: '268435456' }, files(tree))).toEqual({
      bytes: 256 * MiB,
      source: 'env',
    });
  });
});

describe('parseMemoryLimit', () => {
  it.each([
    ['268435456', 256 * MiB],
    ['256Mi', 256 * MiB],
    ['1Gi', 1024 * MiB],
    ['500M', 500e6],
  ])('%s is %i bytes', (value, bytes) => {
    expect(parseMemoryLimit(value)).toBe(bytes);
  });

  it.each(['', 'lots', '-1', '256MB', '1Mi'])(
    'refuses %j, naming the variable and the fix',
    (value) => {
      expect(() => parseMemoryLimit(value)).toThrow(/HOOKGATE_MEMORY_LIMIT=.*at least 32Mi/);
    },
  );
});
