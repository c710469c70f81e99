import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { describeRedisTarget, parseRedisUrl } from './redis-connect.ts';

describe('parseRedisUrl', () => {
  it.each([
    // The plain form, default port and database.
    ['redis://cache', { kind: 'single', node: { host: 'cache', port: 6379 }, db: 0, tls: false }],
    // TLS, the default user by password only, a database.
    [
      'rediss://:s%40cret@cache.example:6380/3',
      {
        kind: 'single',
        node: { host: 'cache.example', port: 6380 },
        db: 3,
        tls: true,
        password: 's@cret',
      },
    ],
    // An ACL user, IPv6.
    [
      'redis://hook:pw@[::1]:7000',
      {
        kind: 'single',
        node: { host: '::1', port: 7000 },
        db: 0,
        tls: false,
        username: 'hook',
        password: 'pw',
      },
    ],
    // Cluster seeds; any one reachable is enough, the client learns the rest.
    [
      'redis+cluster://10.0.0.1:7000,10.0.0.2:7001',
      {
        kind: 'cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
        ],
        tls: false,
      },
    ],
    // Sentinel: default sentinel port 26379, the primary's name, a database, the replica wait.
    [
      'rediss+sentinel://s1,s2:26380/mymaster/2?wait-replicas=1&wait-timeout=500ms',
      {
        kind: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        primaryName: 'mymaster',
        db: 2,
        tls: true,
        replicaWait: { replicas: 1, timeoutMs: 500 },
      },
    ],
    // wait-replicas=0 is "off"; the default timeout is 1 s.
    [
      'redis://h?wait-replicas=0',
      { kind: 'single', node: { host: 'h', port: 6379 }, db: 0, tls: false },
    ],
    [
      'redis+cluster://h:1?wait-replicas=2',
      {
        kind: 'cluster',
        nodes: [{ host: 'h', port: 1 }],
        tls: false,
        replicaWait: { replicas: 2, timeoutMs: 1000 },
      },
    ],
  ])('%s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each([
    ['http://cache', 'unknown scheme'],
    ['redis://a:1,b:2', 'several hosts'],
    ['redis+cluster://a:1/0', 'no databases'],
    ['redis+sentinel://s1:26379', 'primary name'],
    ['redis://cache/16x', 'database number'],
    ['redis://cache:70000', 'outside 1-65535'],
    ['redis://cache?wait=1', 'unknown parameter "wait"'],
    ['redis://cache?wait-replicas=1&wait-timeout=0ms', 'wait-timeout=0ms'],
    ['redis://cache?wait-timeout=1s', 'without wait-replicas'],
    [`redis+cluster://${'a:1,'.repeat(70)}a:1`, 'more than 64 hosts'],
    [`redis://${'a'.repeat(5000)}`, 'longer than 4096'],
  ])('refuses %s naming the problem and the forms', (url, problem) => {
    const err = (() => {
      try {
        parseRedisUrl(url);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
    expect((err as ConfigError).message).toContain('HOOKGATE_REDIS_URL');
    expect((err as ConfigError).message).toContain(problem);
    expect((err as ConfigError).message).toContain('redis+cluster://');
  });

  it('never puts the password into an error or a description', () => {
    const secret = 'hunter2-very-secret';
    const target = parseRedisUrl(`redis+sentinel://u:${secret}@s1:26379/mymaster?wait-replicas=1`);
    expect(describeRedisTarget(target)).toBe(
      'redis+sentinel://u:***@s1:26379/mymaster/0?wait-replicas=1&wait-timeout=1000ms',
    );
    for (const bad of [`redis://u:${secret}@h:99999`, `redis://u:${secret}%zz@h`]) {
      expect(() => parseRedisUrl(bad)).toThrow(ConfigError);
      try {
        parseRedisUrl(bad);
      } catch (e) {
        expect((e as Error).message).not.toContain(secret);
      }
    }
  });
});
