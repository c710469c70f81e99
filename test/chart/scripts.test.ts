// The targets for machines with Docker (`make images` with Docker, `kind-up`, `kind-down`,
// `e2e-kind`) cannot run here. What can be checked is checked: the scripts parse, make expands the targets into the
// commands meant, and the tool recipe knows kind.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, run } from './helm.ts';

describe('scripts and make targets for Docker machines', () => {
  const scripts = readdirSync(join(root, 'test', 'chart')).filter((f) => f.endsWith('.sh'));

  it.each(scripts)('%s parses (bash -n)', async (script) => {
    const checked = await run('bash', ['-n', join(root, 'test', 'chart', script)]);
    expect(checked.stderr).toBe('');
    expect(checked.code).toBe(0);
  });

  // DOCKER_ENGINE=yes plans what a machine with a Docker engine runs (make detects one with `docker info`).
  it('make images builds both Dockerfiles with Docker, tagged with the package version', async () => {
    const planned = await run('make', ['-n', '-s', 'images', 'DOCKER_ENGINE=yes']);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain(
      'docker build -f images/operator.Dockerfile -t ghcr.io/hookgate/operator:0.1.0 .',
    );
    expect(planned.stdout).toContain(
      'docker build -f images/sidecar.Dockerfile -t ghcr.io/hookgate/sidecar:0.1.0 .',
    );
  });

  it('make e2e-kind builds the images, brings kind up, then runs the smoke script', async () => {
    const planned = await run('make', ['-n', '-s', 'e2e-kind', 'DOCKER_ENGINE=yes']);
    expect(planned.code).toBe(0);
    const lines = planned.stdout.split('\n');
    const at = (text: string): number => lines.findIndex((l) => l.includes(text));
    expect(at('docker build')).toBeGreaterThanOrEqual(0);
    expect(at('create cluster --name')).toBeGreaterThan(at('docker build'));
    expect(at('bash test/chart/e2e-kind.sh')).toBeGreaterThan(at('create cluster --name'));
    expect(planned.stdout).toContain("IMAGE_TAG='0.1.0'");
  });

  it('make images without a Docker engine builds with buildah (images/build.sh), same names', async () => {
    const planned = await run('make', ['-n', '-s', 'images', 'DOCKER_ENGINE=']);
    expect(planned.code).toBe(0);
    expect(planned.stdout).not.toContain('docker build');
    expect(planned.stdout).toContain(
      'IMAGE_REGISTRY=ghcr.io/hookgate IMAGE_TAG=0.1.0 bash images/build.sh',
    );
  });

  it('tool.sh refuses an unknown tool, naming the known ones', async () => {
    const refused = await run('bash', [join(root, 'test', 'chart', 'tool.sh'), 'kubectl']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('known: helm, kind');
  });
});
