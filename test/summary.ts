// Prints vitest's JSON report as one plain closing line — "tests: N passed, N failed, N skipped" —
// that CI reads whatever the runner; exits 1 when the report is missing or counts no test.
import { readFileSync } from 'node:fs';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

const path = process.argv[2];
if (path === undefined) throw new Error('usage: node test/summary.ts <vitest-json-report>');
let report: VitestJson;
try {
  report = JSON.parse(readFileSync(path, 'utf8')) as VitestJson;
} catch (err) {
  console.error(`no vitest report at ${path}: ${(err as Error).message}`);
  process.exit(1);
}
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`,
);
if (report.numTotalTests === 0) process.exitCode = 1;
