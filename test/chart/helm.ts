// The chart as users render it: helm (built from its Go module by tool.sh, cached by version) and
// kubectl (built with the test control plane), run as real processes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { binDir } from '../cluster/controlplane.ts';

const execFileAsync = promisify(execFile);

/** The repository root. */
export const root = resolve(import.meta.dirname, '../..');
/** The chart's folder. */
export const chartDir = join(root, 'charts', 'hookgate');

/** A rendered object. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** What a command printed and how it ended. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; never throws on a non-zero exit (the caller asserts). */
export async function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await execFileAsync(file, [...args], {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

let helmPath: Promise<string> | undefined;

/** The pinned helm binary (tool.sh builds it once per version; `make bootstrap` does that). */
export function helm(): Promise<string> {
  helmPath ??= run('bash', [join(root, 'test', 'chart', 'tool.sh'), 'helm']).then((r) => {
    if (r.code !== 0) throw new Error(`building helm failed: ${r.stderr}`);
    return r.stdout.trim();
  });
  return helmPath;
}

/** kubectl of the test control plane. */
export function kubectl(): string {
  const path = join(binDir(), 'kubectl');
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'make controlplane'`);
  return path;
}

/** `--set`-style values as helm arguments. */
function setArgs(values: Readonly<Record<string, string>>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
}

/** `helm template hookgate charts/hookgate -n <namespace> --include-crds` with `values`. */
export async function template(
  namespace: string,
  values: Readonly<Record<string, string>> = {},
  extra: readonly string[] = [],
): Promise<CommandResult> {
  return run(await helm(), [
    'template',
    'hookgate',
    chartDir,
    '--namespace',
    namespace,
    '--include-crds',
    ...setArgs(values),
    ...extra,
  ]);
}

/** `helm lint --strict` with `values`. */
export async function lint(
  namespace: string,
  values: Readonly<Record<string, string>> = {},
): Promise<CommandResult> {
  return run(await helm(), [
    'lint',
    chartDir,
    '--strict',
    '--namespace',
    namespace,
    ...setArgs(values),
  ]);
}

/** The objects in a multi-document YAML stream (empty documents dropped). */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** The one object of `kind` (and `name`, when given); throws when there is not exactly one. */
export function find(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`);
  return found[0]!;
}
