#!/usr/bin/env node
// The whole suite: installs the services tests need (they start them as they go), builds the packages (the CLI's
// end-to-end tests run the real `mesh` binary), type-checks and lints, runs every test with
// vitest, and ends with the line `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const resultsFile = join(root, 'test-results', 'vitest.json');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const failedSteps = [];

function step(title, command, args) {
  const started = Date.now();
  process.stderr.write(`\n▶ ${title}\n`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    failedSteps.push(title);
    process.stderr.write(`✗ ${title} failed (exit ${result.status ?? result.signal}) after ${seconds} s\n`);
    return false;
  }
  process.stderr.write(`✓ ${title} (${seconds} s)\n`);
  return true;
}

const passThrough = process.argv.slice(2);
// Downloads only (packages, jars): each integration test starts the services it needs, once per run.
step('services: install what the tests need', process.execPath, ['tools/services/cli.mjs', 'install']);
const built = step('build all packages', 'npx', [
  'nx',
  'run-many',
  '-t',
  'build',
  '--output-style=stream-without-prefixes',
]);
step('typecheck all packages', 'npx', [
  'nx',
  'run-many',
  '-t',
  'typecheck',
  '--output-style=stream-without-prefixes',
]);
step('lint all packages', 'npx', ['nx', 'run-many', '-t', 'lint', '--output-style=stream-without-prefixes']);
step('lint tools', 'npx', ['eslint', 'tools']);
step('formatting (prettier)', 'npx', ['prettier', '--check', '.', '--log-level=warn']);
step('circular imports', 'npx', [
  'madge',
  '--circular',
  '--extensions',
  'ts',
  '--warning',
  'packages/core/src',
  'packages/cli/src',
  'packages/testkit/src',
  'packages/connector-postgres/src',
  'packages/sink-elasticsearch/src',
  'packages/sink-kafka/src',
  'packages/expression/src',
  'packages/processor-filter/src',
  'packages/processor-projection/src',
  'packages/processor-union/src',
  'packages/processor-join/src',
]);

mkdirSync(dirname(resultsFile), { recursive: true });
if (!built) process.stderr.write('the build failed: end-to-end tests of the CLI will fail too\n');
step('tests (vitest)', 'npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${resultsFile}`,
  ...passThrough,
]);

let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = report.numPassedTests;
  // A test file that failed without a failed test (it did not load, or a hook threw) counts once; vitest's
  // numFailedTestSuites would also count every describe block around a failed test.
  const brokenFiles = report.testResults.filter(
    (file) => file.status === 'failed' && !file.assertionResults.some((test) => test.status === 'failed'),
  ).length;
  failed = report.numFailedTests + brokenFiles;
  skipped = report.numPendingTests + (report.numTodoTests ?? 0);
} catch {
  failed += 1;
}
// A failed build, type check or lint counts as a failed check too.
failed += failedSteps.filter((s) => !s.startsWith('tests')).length;
if (failedSteps.length > 0) process.stderr.write(`\nfailed steps: ${failedSteps.join('; ')}\n`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || failedSteps.length > 0 ? 1 : 0);
