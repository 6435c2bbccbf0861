// GPU runners, simulated at the hardware boundary only: detection reads a recorded sysfs/proc
// tree (SETUP_POETRY_TORCH_SYSTEM_ROOT) and a recorded nvidia-smi output replayed by a
// double on PATH. Everything after detection is real: Poetry, the lock, the index, the cache.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, startStage } from './harness/stage.mjs';

const fixtures = path.join(REPO_ROOT, '__tests__', 'fixtures');
let stage;

before(async () => {
  stage = await startStage();
});
after(async () => {
  await stage?.close();
});

/**
 * A folder holding `nvidia-smi`, a TEST DOUBLE that prints recorded outputs of the real
 * nvidia-smi (from __tests__/fixtures/nvidia-smi) and exits with their recorded status: the
 * query recording for `--query-gpu`, the `table` recording for a plain `nvidia-smi` (whose
 * header has the CUDA version). Without a table that call fails, so the driver table answers.
 */
async function recordedNvidiaSmiDouble(recording, table) {
  const dir = path.join(stage.scratch, `recorded-nvidia-smi-double-${`${recording}-${table ?? 'no-table'}`.replace(/\W+/g, '_')}`);
  await fs.mkdir(dir, { recursive: true });
  const replay = (name) => `cat '${path.join(fixtures, 'nvidia-smi', name)}'; exit ${/\.exit(\d+)\./.exec(name)[1]}`;
  const plain = table ? replay(table) : "echo 'TEST DOUBLE: no table recorded for this case'; exit 1";
  const script = `#!/bin/sh\n# TEST DOUBLE: replays recorded nvidia-smi outputs.\nif [ $# -eq 0 ]; then ${plain}; fi\n${replay(recording)}\n`;
  await fs.writeFile(path.join(dir, 'nvidia-smi'), script, { mode: 0o755 });
  return dir;
}

async function gpuRunnerEnv(root, recording, table) {
  const env = { SETUP_POETRY_TORCH_SYSTEM_ROOT: path.join(fixtures, 'roots', root) };
  if (recording) env.PATH = `${await recordedNvidiaSmiDouble(recording, table)}${path.delimiter}${stage.baseEnv.PATH}`;
  return env;
}

const torchDownloads = () => stage.index.requests.filter((r) => /torch-[^/]*\.whl$/.test(r.path ?? ''));
const errors = (result) => result.annotations.filter((a) => a.level === 'error');

describe('a Tesla T4 runner with driver 535 (recorded) and a lock pinning torch 2.14.1+cu130', () => {
  for (const mode of ['cuda', 'auto']) {
    test(`mode ${mode}: fails in under 10 s, before Poetry downloads anything, naming driver, CUDA version and both fixes`, async () => {
      const workspace = await stage.workspace('seed', `t4-${mode}`);
      const downloads = torchDownloads().length;
      const result = await stage.run(workspace, { mode }, { env: await gpuRunnerEnv('t4-driver-535', 'query-t4-535.exit0.csv') });
      assert.equal(result.exitCode, 1, result.log);
      assert.ok(result.durationMs < 10_000, `took ${result.durationMs} ms`);
      assert.equal(torchDownloads().length, downloads);
      await assert.rejects(fs.access(path.join(workspace, '.venv')));
      assert.equal(result.outputs.mode, 'cuda');
      assert.equal(result.outputs['gpu-detected'], 'true');
      assert.equal(result.outputs['gpu-names'], 'Tesla T4');
      assert.equal(result.outputs['driver-version'], '535.104.05');
      assert.equal(result.outputs['cuda-driver-version'], '12.2');
      const [error] = errors(result);
      assert.equal(error.properties.title, 'Driver too old for the locked CUDA torch');
      assert.match(error.message, /^The NVIDIA driver 535\.104\.05 is too old for torch 2\.14\.1\+cu130: .*CUDA 13\.0.*580/);
      assert.match(error.message, /update the runner's driver to 580[\d.]* or newer/);
      assert.match(error.message, /point the pytorch-cuda source at a cuXXX index this driver supports, e\.g\. \.\.\.\/whl\/cu122 or older/);
      assert.match(result.summary, /source: nvidia-smi \| yes: .*Tesla T4/);
      // No table recorded for this T4, so only the driver table can answer.
      assert.match(result.summary, /Newest CUDA the driver supports \| 12\.2 \(driver table for 535\.104\.05\); the driver did not say/);
    });
  }
});

describe("an L40S runner with driver 595.80 (nvidia_gpu_exporter's capture)", () => {
  test("takes the CUDA version from nvidia-smi's header, and outputs it although the step stops before the project loads", async () => {
    const workspace = await stage.workspace('seed', 'l40s-header');
    await fs.rm(path.join(workspace, 'poetry.lock'));
    const env = await gpuRunnerEnv('l40s-driver-595', 'query-captured-linux-l40s-595.80.exit0.csv', 'table-captured-linux-l40s-595.80.exit0.txt');
    const result = await stage.run(workspace, { mode: 'auto' }, { env });
    assert.equal(result.exitCode, 1, result.log);
    assert.match(errors(result)[0].message, /poetry\.lock/);
    assert.equal(result.outputs['gpu-names'], 'NVIDIA L40S');
    assert.equal(result.outputs['driver-version'], '595.80');
    assert.equal(result.outputs['cuda-driver-version'], '13.2');
    assert.match(result.log, /Newest CUDA the driver supports: 13\.2 \(nvidia-smi's header\)/);
    assert.match(result.summary, /Newest CUDA the driver supports \| 13\.2 \(nvidia-smi's header\)/);
  });
});

describe('hardware without a working driver', () => {
  test('mode auto on an H100 with no driver loaded picks cpu, says why in one line, and passes', async () => {
    const workspace = await stage.workspace('seed', 'h100-no-driver');
    const result = await stage.run(workspace, { mode: 'auto', cache: 'false' }, { env: await gpuRunnerEnv('h100-no-driver') });
    assert.equal(result.exitCode, 0, result.log);
    assert.equal(result.outputs.mode, 'cpu');
    assert.equal(result.outputs['gpu-detected'], 'false');
    assert.equal(result.outputs['torch-version'], '2.13.0+cpu');
    const line = result.log.split('\n').find((text) => text.startsWith('Mode: cpu'));
    assert.match(line, /^Mode: cpu \(auto: no usable NVIDIA GPU \(.*no driver loaded.*\)\)$/);
  });

  test('mode cuda on the same runner fails with the diagnosis before any download', async () => {
    const workspace = await stage.workspace('seed', 'h100-no-driver-cuda');
    const downloads = torchDownloads().length;
    const result = await stage.run(workspace, { mode: 'cuda' }, { env: await gpuRunnerEnv('h100-no-driver') });
    assert.equal(result.exitCode, 1);
    assert.equal(torchDownloads().length, downloads);
    assert.match(errors(result)[0].message, /^mode is cuda and expect-cuda is true, but CUDA cannot work on this runner: .*no driver loaded/);
  });

  test('a driver that loads but whose nvidia-smi fails is a diagnosis, not a GPU', async () => {
    const workspace = await stage.workspace('seed', 't4-smi-fails');
    const result = await stage.run(workspace, { mode: 'cuda' }, { env: await gpuRunnerEnv('t4-driver-535', 'failed-no-driver.exit9.txt') });
    assert.equal(result.exitCode, 1);
    assert.match(errors(result)[0].message, /nvidia-smi failed \(exit 9\)/);
  });
});
