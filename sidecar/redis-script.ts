// Lua scripts on Redis, the way every Hookgate store runs them: EVALSHA (one round trip, the
// script cached server-side), EVAL when Redis lost its script cache (a restart, SCRIPT FLUSH), and
// a deadline, so a slow Redis turns into an error the caller can fall back on.
import { createHash } from 'node:crypto';

/** The two commands scripts need; an ioredis `Redis` (or `Cluster`) provides them. */
export interface RedisScriptClient {
  evalsha(sha1: string, numkeys: number, ...args: (string | Buffer | number)[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...args: (string | Buffer | number)[]): Promise<unknown>;
}

/**
 * The Buffer-reply variants ioredis adds to every command at run time (untyped there). Its
 * `callBuffer` is not used: it breaks under auto-pipelining.
 */
interface BufferScriptCommands {
  evalshaBuffer(
    sha1: string,
    numkeys: number,
    ...args: (string | Buffer | number)[]
  ): Promise<unknown>;
  evalBuffer(
    script: string,
    numkeys: number,
    ...args: (string | Buffer | number)[]
  ): Promise<unknown>;
}

/** A Lua script and its SHA-1. */
export class RedisScript {
  readonly text: string;
  readonly sha: string;

  constructor(text: string) {
    this.text = text;
    this.sha = createHash('sha1').update(text).digest('hex');
  }

  /**
   * Like {@link run}, with arguments that may be Buffers and bulk replies returned as Buffers,
   * for binary payloads that must not pass through UTF-8.
   */
  runBuffer(
    redis: RedisScriptClient,
    timeoutMs: number,
    key: string,
    ...args: (string | Buffer | number)[]
  ): Promise<unknown> {
    const client = redis as RedisScriptClient & Partial<BufferScriptCommands>;
    const { evalshaBuffer, evalBuffer } = client;
    if (evalshaBuffer === undefined || evalBuffer === undefined)
      return Promise.reject(new TypeError('runBuffer needs an ioredis client (evalshaBuffer)'));
    const attempt = async (): Promise<unknown> => {
      try {
        return await evalshaBuffer.call(client, this.sha, 1, key, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await evalBuffer.call(client, this.text, 1, key, ...args);
      }
    };
    return withTimeout(attempt(), timeoutMs);
  }

  /** Runs the script on one key; rejects when Redis fails or has not answered within `timeoutMs`. */
  run(
    redis: RedisScriptClient,
    timeoutMs: number,
    key: string,
    ...args: (string | Buffer | number)[]
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
