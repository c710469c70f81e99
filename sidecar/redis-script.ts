// Lua scripts on Redis, the way every Hookgate store runs them: EVALSHA (one round trip, the
// script cached server-side), EVAL when Redis lost its script cache (a restart, SCRIPT FLUSH), and
// a deadline, so a slow Redis turns into an error the caller can fall back on.
import { createHash } from 'node:crypto';

/** The two commands scripts need; an ioredis `Redis` (or `Cluster`) provides them. */
export interface RedisScriptClient {
  evalsha(sha1: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/** A Lua script and its SHA-1. */
export class RedisScript {
  readonly text: string;
  readonly sha: string;

  constructor(text: string) {
    this.text = text;
    this.sha = createHash('sha1').update(text).digest('hex');
  }

  /** Runs the script on one key; rejects when Redis fails or has not answered within `timeoutMs`. */
  run(
    redis: RedisScriptClient,
    timeoutMs: number,
    key: string,
    ...args: (string | number)[]
  ): Promise<unknown> {
    const attempt = async (): Promise<unknown> => {
      try {
        return await redis.evalsha(this.sha, 1, key, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await redis.eval(this.text, 1, key, ...args);
      }
    };
    return withTimeout(attempt(), timeoutMs);
  }
}

/**
 * Rejects when `promise` has not settled within `ms`. The late result is dropped: whatever it
 * would have done, the caller has already decided without it.
 */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
