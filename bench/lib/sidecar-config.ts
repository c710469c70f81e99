// The sidecar configuration the benchmarks share: one egress endpoint `bench` to a receiver,
// Standard Webhooks signed, loopback allowed past the SSRF guard, and a queue folder of its own.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/cluster/process.ts';

/** A written configuration and the ports it listens on. */
export interface BenchSidecarConfig {
  /** The configuration file. */
  readonly path: string;
  readonly egressPort: number;
  readonly adminPort: number;
}

/**
 * Writes `<dir>/<name>.yaml` (and the signing secret beside it) for a receiver at `receiverUrl`;
 * `queue` is extra YAML flow-map members for the queue settings (e.g. bounds).
 */
export async function writeBenchSidecarConfig(
  dir: string,
  name: string,
  receiverUrl: string,
  queue = '',
): Promise<BenchSidecarConfig> {
  const secret = join(dir, 'whsec');
  writeFileSync(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  const egressPort = await freePort();
  const adminPort = await freePort();
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `listen: { egress: "127.0.0.1:${egressPort}", ingress: "127.0.0.1:0" }`,
      'endpoints:',
      '  - name: bench',
      `    url: ${receiverUrl}/hook`,
      `    signing: { secrets: [{ source: { file: ${secret} } }] }`,
      '    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }',
      `queue: { directory: ${join(dir, `${name}-queue`)}${queue === '' ? '' : `, ${queue}`} }`,
      '',
    ].join('\n'),
  );
  return { path, egressPort, adminPort };
}
