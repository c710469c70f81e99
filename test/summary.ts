// Prints vitest's JSON report as one plain closing line — "tests: N passed, N failed, N skipped" —
// that CI reads whatever the runner; exits 1 when a report is missing or they count no test.
import { readFileSync } from 'node:fs';

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTests: number;
}

const paths = process.argv.slice(2);
if (paths.length === 0) throw new Error('usage: node test/summary.ts <vitest-json-report>...');
const report: VitestJson = {
  numPassedTests: 0,
  numFailedTests: 0,
  numPendingTests: 0,
  numTodoTests: 0,
  numTotalTests: 0,
};
// Several reports (make test runs the node project after the others) add up to one line.
for (const path of paths) {
  let one: VitestJson;
  try {
    one = JSON.parse(readFileSync(path, 'utf8')) as VitestJson;
  } catch (err) {
    console.error(`no vitest report at ${path}: ${(err as Error).message}`);
    process.exit(1);
  }
  for (const key of Object.keys(report) as (keyof VitestJson)[]) report[key] += one[key];
}
const skipped = report.numPendingTests + report.numTodoTests;
console.log(
  `tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`,
);
if (report.numTotalTests === 0) process.exitCode = 1;
