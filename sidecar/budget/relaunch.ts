// Start-up half of the memory budget: V8 sizes its heap only when the process starts, so the entry
// asks here first and, when the heap is not sized yet, replaces the process with itself plus the
// budget's heap flags and malloc settings (`process.execve`: same pid, no second process left
// resident). The second run finds the flags in its own execArgv and goes on.
import { heapFlags, mallocEnv, memoryBudget } from './budget.ts';
import { detectMemoryLimit } from './memory-limit.ts';

/** Re-executes the current program with heap flags for its memory limit, when it has none yet. */
export function startWithHeapBudget(): void {
  if (typeof process.execve !== 'function') return;
  let limit;
  try {
    limit = detectMemoryLimit();
  } catch (err) {
    // A malformed HOOKGATE_MEMORY_LIMIT stops the start, naming the variable and the fix.
    process.stderr.write(`hookgate-sidecar: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const flags = heapFlags(memoryBudget(limit), process.execArgv, process.env['NODE_OPTIONS']);
  if (flags.length === 0) return;
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, ...mallocEnv(process.env) },
  );
}
