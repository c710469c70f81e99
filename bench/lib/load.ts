// A small load generator for benchmarks: closed-loop throughput and fixed-rate latency, over
// undici pools, loopback only, bounded in time. Prints numbers; asserts nothing.
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

/** Waits until `url` answers a POST of `{}` at all, whatever its status (10 s at most). */
export async function waitAnswering(
  url: string,
  headers: Record<string, string> = {},
): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(url, { method: 'POST', body: '{}', headers });
      await res.arrayBuffer();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`${url} never answered`);
}

/** Latency percentiles in milliseconds. */
export interface Latency {
  p50: number;
  p99: number;
  count: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Sends `body` to `url` from `connections` closed loops for `seconds`; returns requests/s and the count. */
export async function throughput(
  url: string,
  body: Buffer,
  connections: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<{ rps: number; errors: number; requests: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  const stopAt = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const res = await pool.request({
        path: target.pathname,
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
      await res.body.dump();
      if (res.statusCode >= 300) errors++;
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return { rps: done / elapsed, errors, requests: done };
}

/** Sends at a fixed `rate` for `seconds` (open loop) and measures each request's latency. */
export async function latencyAtRate(
  url: string,
  body: Buffer,
  rate: number,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<Latency> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 64, pipelining: 1 });
  const samples: number[] = [];
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const total = rate * seconds;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sent = performance.now();
    inFlight.push(
      pool
        .request({
          path: target.pathname,
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', ...headers },
        })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode >= 300) errors++;
          samples.push(performance.now() - sent);
        })
        .catch(() => void errors++),
    );
  }
  await Promise.all(inFlight);
  await pool.close();
  samples.sort((a, b) => a - b);
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    count: samples.length,
    errors,
  };
}

/** Resident set size of a process in MB (Linux). */
export async function rssMb(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** CPU time (user + system) a process and its children-by-pid have used so far, in µs (Linux). */
export async function cpuMicros(pids: readonly number[]): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1e6) / CLOCK_TICKS;
}

/** USER_HZ: /proc reports CPU time in these ticks per second (100 on every Linux build Node runs on). */
const CLOCK_TICKS = 100;

/** The pids of a process's direct children (e.g. nginx's workers under its master). */
export async function childPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text
    .split(' ')
    .filter((p) => p !== '')
    .map(Number);
}
