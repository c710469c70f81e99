// Loading the sidecar configuration: parse once at the edge, report every problem with its path,
// read the secrets it references, freeze. A config whose secrets cannot be read is as invalid as
// one with a typo: both are refused whole, and the caller keeps the last good one.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { ENV_APP_PORT } from '../../common/env.ts';
import { deepFreeze } from '../../common/freeze.ts';
import { compileEgressPlans, type EgressPlans } from '../delivery/compile.ts';
import { ConfigError } from '../errors.ts';
import { SidecarConfig, type SecretSource } from './schema.ts';

/** A validated configuration with its secrets read and its egress side compiled into plans. */
export interface LoadedConfig {
  readonly config: SidecarConfig;
  /** Every egress endpoint and dynamic route as a frozen plan (delivery/compile.ts). */
  readonly egress: EgressPlans;
  /** sha256 of the file's bytes: equal digests mean nothing changed. */
  readonly digest: string;
  /** The bytes of a secret the config references (read at load time). */
  secret(source: SecretSource): string;
}

/** Formats zod issues as `path: message` lines, the path written the way a YAML reader finds it. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
      .join('');
    return `${path === '' ? '(top level)' : path}: ${issue.message}`;
  });
}

/** Every SecretSource in the config, with its path for error messages. */
function secretSources(config: SidecarConfig): [string, SecretSource][] {
  const found: [string, SecretSource][] = [];
  config.endpoints.forEach((e, i) =>
    e.signing.secrets.forEach((s, j) =>
      found.push([`endpoints[${i}].signing.secrets[${j}].source`, s.source]),
    ),
  );
  config.endpoints.forEach((e, i) => {
    const at = `endpoints[${i}]`;
    if (e.auth?.basic !== undefined) {
      found.push([`${at}.auth.basic.username`, e.auth.basic.username]);
      found.push([`${at}.auth.basic.password`, e.auth.basic.password]);
    }
    if (e.auth?.oauth2 !== undefined) {
      found.push([`${at}.auth.oauth2.clientId`, e.auth.oauth2.clientId]);
      found.push([`${at}.auth.oauth2.clientSecret`, e.auth.oauth2.clientSecret]);
    }
    e.auth?.headers.forEach((h, j) => found.push([`${at}.auth.headers[${j}].value`, h.value]));
    if (e.tls?.clientCertificate !== undefined) {
      found.push([`${at}.tls.clientCertificate.certificate`, e.tls.clientCertificate.certificate]);
      found.push([`${at}.tls.clientCertificate.key`, e.tls.clientCertificate.key]);
    }
    if (e.tls?.ca !== undefined) found.push([`${at}.tls.ca`, e.tls.ca]);
  });
  config.dynamic.forEach((d, i) =>
    d.signing.secrets.forEach((s, j) =>
      found.push([`dynamic[${i}].signing.secrets[${j}].source`, s.source]),
    ),
  );
  config.ingress.forEach((e, i) => {
    e.verify.secrets.forEach((s, j) => found.push([`ingress[${i}].verify.secrets[${j}]`, s]));
    if (e.verify.username !== undefined)
      found.push([`ingress[${i}].verify.username`, e.verify.username]);
    if (e.verify.password !== undefined)
      found.push([`ingress[${i}].verify.password`, e.verify.password]);
  });
  return found;
}

/**
 * The injector tells the sidecar the app's port (`hookgate.io/app-port`): it is where ingress
 * endpoints that name no `forward.port` deliver. Returns a problem for a bad value.
 */
function applyAppPort(raw: unknown, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) {
    return `${ENV_APP_PORT}: "${value}" is not a port from 1 to 65535`;
  }
  const ingress = (raw as { ingress?: unknown }).ingress;
  if (!Array.isArray(ingress)) return undefined;
  for (const entry of ingress as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as { forward?: unknown };
    if (e.forward === undefined) e.forward = { port };
    else if (typeof e.forward === 'object' && e.forward !== null && !('port' in e.forward))
      (e.forward as { port?: number }).port = port;
  }
  return undefined;
}

/**
 * The config as the operator publishes and streams it — `#` comment lines, then JSON — parsed
 * without loading a YAML parser (~12 MB resident that a sidecar fed by the operator never needs);
 * undefined for anything else (hand-written YAML), which `parseYaml` then reads.
 */
function publishedJson(text: string): unknown {
  const body = text.replace(/^(?:[ \t]*(?:#[^\n]*)?\r?\n)*/, '');
  if (!body.startsWith('{')) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined; // let the YAML parser report the problem with its position
  }
}

/** YAML (a superset of JSON), loaded on first use; every syntax problem is reported. */
async function parseYaml(text: string, source: string): Promise<unknown> {
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`),
    );
  }
  return doc.toJS() ?? {};
}

/**
 * Parses and validates configuration text. `baseDir` resolves relative secret files; `env` is
 * where `{ env: NAME }` secrets come from; `readSecretFile` reads a `{ file }` secret (the config
 * stream hands its secrets in memory instead of from a mounted Secret).
 */
export async function parseConfig(
  text: string,
  source: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
  readSecretFile: (file: string) => Promise<string> = (file) => readFile(file, 'utf8'),
): Promise<LoadedConfig> {
  const raw = publishedJson(text) ?? (await parseYaml(text, source));
  const appPortProblem = applyAppPort(raw, env[ENV_APP_PORT]);
  if (appPortProblem !== undefined) throw new ConfigError(source, [appPortProblem]);
  const parsed = SidecarConfig.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, formatIssues(parsed.error.issues));
  const config = parsed.data;

  const values = new Map<SecretSource, string>();
  const problems: string[] = [];
  for (const [path, s] of secretSources(config)) {
    if ('env' in s) {
      const value = env[s.env];
      if (value === undefined || value === '')
        problems.push(`${path}.env: environment variable ${s.env} is not set`);
      else values.set(s, value);
      continue;
    }
    const file = isAbsolute(s.file) ? s.file : resolve(baseDir, s.file);
    try {
      const value = (await readSecretFile(file)).trim();
      if (value === '') problems.push(`${path}.file: ${file} is empty`);
      else values.set(s, value);
    } catch (err) {
      problems.push(
        `${path}.file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(source, problems);

  const frozen = deepFreeze(config);
  const secret = (s: SecretSource): string => {
    const value = values.get(s);
    if (value === undefined) throw new Error('secret source does not belong to this configuration');
    return value;
  };
  // Plans are built here, in the load (and reload) path: a config whose endpoints cannot be
  // built is refused whole, and the watcher keeps the last good one.
  const egress = compileEgressPlans(frozen.endpoints, frozen.dynamic, secret);
  if (egress.problems.length > 0) throw new ConfigError(source, egress.problems);
  return {
    config: frozen,
    egress: egress.plans,
    digest: createHash('sha256').update(text).digest('hex'),
    secret,
  };
}

/** Reads and validates the configuration file at `path`. */
export async function loadConfigFile(path: string, env?: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [
      `cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    ]);
  }
  return parseConfig(text, path, dirname(resolve(path)), env);
}
