// The Dockerfiles cannot be built here (no Docker daemon) and hadolint is not available, so this
// checks what a broken image would get wrong: stages and their order, every COPY source present
// and inside the build context (.dockerignore), non-root users, production dependencies only,
// iptables in the sidecar, and entrypoints that are the programs `npm run build` really emits
// (compiled here and run with --version).
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './helm.ts';

const execFileAsync = promisify(execFile);

/** One Dockerfile instruction: keyword, and its arguments with continuations joined. */
interface Instruction {
  keyword: string;
  args: string;
}

/** A build stage: its base image, name, and instructions. */
interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages (comments and parser directives dropped). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  expect(current, 'a continued instruction never ends').toBe('');
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    expect(keyword, `instructions are written in capitals: ${line}`).toBe(upper);
    if (upper === 'FROM') {
      const [, image = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      const resolved = image.replace(/^\$\{(\w+)\}$/, (_m, arg: string) => args.get(arg) ?? '');
      stages.push({ from: resolved, name, instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=');
      args.set(name, value);
    } else {
      const stage = stages.at(-1);
      expect(stage, `${upper} before any FROM`).toBeDefined();
      stage!.instructions.push({ keyword: upper, args: rest });
    }
  }
  return { args, stages };
}

/** The allowlist in .dockerignore: top-level names re-included with `!`. */
function contextAllowlist(): string[] {
  const lines = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim());
  expect(lines.filter((l) => l !== '' && !l.startsWith('#'))[0]).toBe('*');
  return lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
};

const images = [
  {
    file: 'images/operator.Dockerfile',
    program: 'hookgate-operator',
    user: '65532:65532',
    runtime: /^gcr\.io\/distroless\/nodejs24-debian12:nonroot$/,
  },
  {
    file: 'images/sidecar.Dockerfile',
    program: 'hookgate-sidecar',
    // contracts: the sidecar runs as 15000, the UID interception leaves alone.
    user: '15000:15000',
    runtime: /^node:24-bookworm-slim$/,
  },
];

describe.each(images)('$file', ({ file, program, user, runtime }) => {
  const { stages } = parseDockerfile(readFileSync(join(root, file), 'utf8'));
  const final = stages.at(-1)!;
  const all = (stage: Stage, keyword: string): string[] =>
    stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('builds in named stages and runs on a small pinned Node 24 base', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    for (const stage of stages.slice(0, -1)) expect(stage.name).toMatch(/^[a-z-]+$/);
    for (const stage of stages) {
      expect(stage.from).toMatch(/:[^:]+$/);
      expect(stage.from).not.toMatch(/:latest$/);
    }
    expect(final.from).toMatch(runtime);
    expect(all(final, 'LABEL').join(' ')).toContain('org.opencontainers.image.source=');
  });

  it('copies only what exists in the build context, from earlier stages by name', () => {
    const allowed = contextAllowlist();
    const earlier: string[] = [];
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY')) {
        const parts = copy.split(/\s+/);
        const from = /^--from=(\S+)$/.exec(parts[0]!)?.[1];
        if (from !== undefined) {
          expect(earlier, `COPY --from=${from}`).toContain(from);
          continue;
        }
        for (const source of parts.slice(0, -1)) {
          expect(existsSync(join(root, source)), `${source} exists`).toBe(true);
          const top = source.replace(/\/$/, '').split('/')[0]!;
          expect(allowed, `${source} is in the build context`).toContain(top);
        }
      }
      if (stage.name !== undefined) earlier.push(stage.name);
    }
  });

  it('installs with npm ci and ships production dependencies only', () => {
    const runs = stages.flatMap((s) => all(s, 'RUN')).join('\n');
    expect(runs).not.toMatch(/npm (install|i) /);
    const copies = all(final, 'COPY').join('\n');
    const depsStage = /--from=(\S+) \S*node_modules/.exec(copies)?.[1];
    const deps = stages.find((s) => s.name === depsStage);
    expect(all(deps!, 'RUN').join(' ')).toContain('npm ci --omit=dev');
    expect(copies).toContain('package.json');
  });

  it('runs as a fixed non-root user', () => {
    expect(all(final, 'USER')).toEqual([user]);
    // Nothing after USER switches back.
    const last = final.instructions.findLastIndex((i) => i.keyword === 'USER');
    expect(final.instructions.slice(last + 1).map((i) => i.keyword)).not.toContain('RUN');
  });

  it(`starts ${program}, the program package.json declares`, () => {
    const entrypoint = JSON.parse(all(final, 'ENTRYPOINT')[0]!) as string[];
    const bin = pkg.bin[program]!;
    if (program === 'hookgate-sidecar') {
      // The sidecar links the program onto PATH so the init container can run it by name.
      expect(entrypoint).toEqual([program]);
      expect(all(final, 'RUN').join(' ')).toContain(`ln -s /app/${bin} /usr/local/bin/${program}`);
    } else {
      expect(entrypoint).toEqual(['/nodejs/bin/node', `/app/${bin}`]);
    }
  });
});

describe('the sidecar image', () => {
  it('has iptables for the interception init container', () => {
    const { stages } = parseDockerfile(
      readFileSync(join(root, 'images/sidecar.Dockerfile'), 'utf8'),
    );
    const runs = stages
      .at(-1)!
      .instructions.filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join(' ');
    expect(runs).toMatch(/apt-get install -y --no-install-recommends iptables/);
    expect(runs).toContain('rm -rf /var/lib/apt/lists/*');
    expect(runs).toMatch(/useradd --system --uid 15000 --gid 15000/);
  });
});

describe('the build stage, on exactly the build context', () => {
  // The files .dockerignore lets through, laid out as /src, with node_modules linked in: tsc
  // compiles there as in the build stage, and the output runs as from /app.
  let context = '';
  let out = '';
  afterAll(() => rmSync(context, { recursive: true, force: true }));
  beforeAll(async () => {
    context = mkdtempSync(join(tmpdir(), 'hookgate-context-'));
    for (const name of contextAllowlist()) {
      cpSync(join(root, name), join(context, name), {
        recursive: true,
        filter: (source) => !source.endsWith('.test.ts'),
      });
    }
    symlinkSync(join(root, 'node_modules'), join(context, 'node_modules'));
    await execFileAsync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: context },
    );
    out = join(context, 'dist');
  }, 180_000);

  it.each(Object.entries(pkg.bin))('%s is emitted at %s and starts', async (program, bin) => {
    const emitted = join(context, bin);
    expect(existsSync(emitted)).toBe(true);
    expect(readFileSync(emitted, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const { stdout } = await execFileAsync(process.execPath, [emitted, '--version'], { cwd: out });
    expect(stdout.trim()).toMatch(new RegExp(`^${program} \\d+\\.\\d+\\.\\d+`));
  });

  it('needs no devDependency at run time', () => {
    // Every bare import in the emitted code (static or dynamic) is a dependency or a built-in.
    const imports = new Set<string>();
    const packageName = (specifier: string): string =>
      specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/');
    for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
      const code = readFileSync(join(entry.parentPath, entry.name), 'utf8');
      for (const m of code.matchAll(/(?:from |import\()'([^.'][^']*)'/g)) {
        imports.add(packageName(m[1]!));
      }
    }
    expect(imports).toContain('undici');
    const foreign = [...imports].filter((i) => !i.startsWith('node:') && !(i in pkg.dependencies));
    expect(foreign).toEqual([]);
  });
});
