// Adds up vitest JSON reports and prints one closing line: "tests: N passed, N failed, N skipped".
// Exits 1 when a test failed, a report is missing, or an end-to-end test was skipped: a skipped
// end-to-end test means something real was not checked.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

let passed = 0;
let failed = 0;
let skipped = 0;
let bad = false;
for (const file of process.argv.slice(2)) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    console.error(`cannot read test report ${file}: ${error.message}`);
    bad = true;
    continue;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests + (report.numRuntimeErrorTestSuites ?? 0);
  const fileSkipped = report.numPendingTests + report.numTodoTests;
  skipped += fileSkipped;
  if (basename(file).includes('e2e') && fileSkipped > 0) {
    console.error(`${fileSkipped} end-to-end test(s) were skipped`);
    bad = true;
  }
  if (!report.success) bad = true;
}
if (process.argv.length <= 2) {
  console.error('no test reports found');
  bad = true;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(bad || failed > 0 ? 1 : 0);
