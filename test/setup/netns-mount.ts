// `ip netns add` bind-mounts /run/netns onto itself the first time it runs and never undoes it;
// `ip netns del` removes only the namespace. The interception tests make namespaces, so the
// integration run records whether that mount was there before it and takes it away after, when
// the run made it and no namespace is left in it (nothing of a run stays mounted).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { promisify } from 'node:util';

const NETNS_DIR = '/run/netns';

function mounted(path: string): boolean {
  // mountinfo's fifth field is the mount point.
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

/** Notes the state of /run/netns now; the function it returns restores it. */
export function recordNetnsMount(): () => Promise<void> {
  const existed = existsSync(NETNS_DIR);
  const wasMounted = existed && mounted(NETNS_DIR);
  return async () => {
    if (wasMounted || !existsSync(NETNS_DIR) || readdirSync(NETNS_DIR).length > 0) return;
    if (mounted(NETNS_DIR)) await promisify(execFile)('umount', [NETNS_DIR]);
    if (!existed) rmdirSync(NETNS_DIR);
  };
}
