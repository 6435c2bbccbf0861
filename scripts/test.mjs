// `npm test`: bundles dist/, runs the unit tests (jest) and the end-to-end tests (node:test,
// under Node 24 as a runner would), then prints one combined closing line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const reports = `${root}.cache/test-reports`;
mkdirSync(reports, { recursive: true });
const node24 = `${root}node_modules/.bin/node`;
const only = process.argv.slice(2); // e.g. `npm test -- e2e/action.test.mjs`

function step(title, file, args, env = {}) {
  console.log(`\n=== ${title}`);
  const result = spawnSync(file, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status ?? 1;
}

let failedSteps = 0;
failedSteps += step('bundle', process.execPath, ['scripts/bundle.mjs']) === 0 ? 0 : 1;

const unitOnly = only.length === 0 || only.some((arg) => arg.includes('__tests__'));
const e2eFiles = only.length
  ? only.filter((arg) => arg.startsWith('e2e'))
  : readdirSync(`${root}e2e`)
      .filter((name) => name.endsWith('.test.mjs'))
      .sort()
      .map((name) => `e2e/${name}`);

let passed = 0;
let failed = 0;
let skipped = 0;
if (unitOnly) {
  const jsonFile = `${reports}/unit.json`;
  const status = step('unit tests (jest)', process.execPath, [
    '--experimental-vm-modules',
    'node_modules/jest/bin/jest.js',
    '--json',
    `--outputFile=${jsonFile}`,
    ...only.filter((arg) => arg.includes('__tests__')),
  ]);
  if (existsSync(jsonFile)) {
    const json = JSON.parse(readFileSync(jsonFile, 'utf8'));
    passed += json.numPassedTests;
    failed += json.numFailedTests;
    skipped += json.numPendingTests + json.numTodoTests;
    if (json.numFailedTestSuites > 0 && json.numFailedTests === 0) failed += json.numFailedTestSuites;
  } else if (status !== 0) failed += 1;
}

// Files with wall-clock bounds, and faults-cache (four cases at once of its own, whose restores
// must not time out under a second file's load), run one at a time after the rest have run two
// at a time (those wait on Poetry, the network stand-ins and the disk, so two share the CPUs well).
const ALONE = new Set([
  'e2e/action.test.mjs',
  'e2e/bench-smoke.test.mjs',
  'e2e/faults-cache.test.mjs',
  'e2e/gpu.test.mjs',
  'e2e/harness-cache.test.mjs',
  'e2e/harness-runner.test.mjs',
]);
const e2eGroups = [
  { name: 'two at a time', concurrency: 2, files: e2eFiles.filter((file) => !ALONE.has(file)) },
  { name: 'one at a time', concurrency: 1, files: e2eFiles.filter((file) => ALONE.has(file)) },
].filter((group) => group.files.length > 0);
for (const [index, group] of e2eGroups.entries()) {
  const tap = `${reports}/e2e-${index + 1}.tap`;
  const status = step(`end-to-end tests, ${group.name} (node:test on Node 24)`, existsSync(node24) ? node24 : process.execPath, [
    '--test',
    `--test-concurrency=${group.concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...group.files,
  ]);
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (name) => Number(new RegExp(`^# ${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  passed += count('pass');
  failed += count('fail') + count('cancelled');
  skipped += count('skipped') + count('todo');
  if (status !== 0 && count('fail') + count('cancelled') === 0) failed += 1;
}

console.log(`\ntests: ${passed} passed, ${failed + failedSteps} failed, ${skipped} skipped`);
process.exit(failed + failedSteps > 0 ? 1 : 0);
