// `npm run bench` is too slow for every test run; its smallest configuration is not, and it keeps
// the harness from rotting: one cold, one warm exact and one floor measurement, table printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness/stage.mjs';

function runBench(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bench', 'run.mjs'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('bench --smoke prints the rows, their times, the figures and the verdicts', { timeout: 240_000 }, async () => {
  const started = Date.now();
  const { code, stdout, stderr } = await runBench(['--smoke']);
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  const seconds = (row) => {
    const match = new RegExp(`^\\| ${row.replace(/[()+]/g, '\\$&')} \\| (\\d+\\.\\d{2}) \\| (\\d+\\.\\d{2}) \\| (.+) \\|$`, 'm').exec(stdout);
    assert.ok(match, `row ${row} missing:\n${stdout}`);
    return Number(match[1]);
  };
  const cold = seconds('cold (no cache)');
  const warm = seconds('warm exact (cache)');
  const store = seconds('warm exact (venv store)');
  const floor = seconds('floor (tar+zstd extract + import torch)');
  assert.ok(cold > warm && warm > 0 && store > 0 && floor > 0, stdout);
  assert.match(stdout, /^\| warm exact \(cache\) \| .*cache restore \d+\.\d{2}; verify \(probe torch\) \d+\.\d{2}/m, 'warm row says where its time went');
  assert.match(stdout, /^\| warm exact \(cache\) \| .*\(restore: worker start \+ download\) \d+\.\d{2}; \(restore: tar\+zstd extract\) \d+\.\d{2}/m);
  assert.match(
    stdout,
    /^\| cold \(no cache\) \| .*\(save: tar\+zstd archive\) \d+\.\d{2}; \(save: upload\) \d+\.\d{2}; \(post step, after the job\) \d+\.\d{2}/m,
  );
  assert.match(stdout, /^- venv archive .*: \d+ MiB from a \d+ MiB venv$/m);
  assert.match(stdout, /^- peak RSS \(VmHWM\) of the action's own node process: \d+ MiB$/m);
  assert.match(stdout, /^- peak RSS \(VmHWM\) of the cache worker \(restore\): \d+ MiB$/m);
  assert.match(stdout, /^\| store warm exact vs cache warm exact \| \d+\.\d{2}x faster \| >= 4x faster \| (PASS|FAIL) \|$/m);
  assert.match(stdout, /^\| cold step vs cold sync \+ verify \| \+\d+\.\d{2} s \| <= 1\.5 s \| (PASS|FAIL) \|$/m);
  assert.match(stdout, /^Bound for the store: cache warm exact \/ .* = \d+\.\d{2}x/m);
  assert.match(stdout, /^\| warm exact vs floor \| \d+\.\d{2}x the floor \| <= 1\.3x the floor \| (PASS|FAIL) \|$/m);
  assert.match(stdout, /Fewer than 3 runs: figures show the harness works, they are not a claim\./);
  assert.match(stdout, /^Machine: .+, \d+ CPUs, [\d.]+ GiB RAM/m);
  // The smoke configuration must stay cheap enough to run with every test run (it runs the store row and post steps too).
  assert.ok(Date.now() - started < 150_000, `took ${Date.now() - started} ms`);
});
