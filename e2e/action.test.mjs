// The action end to end, as a runner runs it: the bundled dist/index.js under Node 24, real
// Poetry, the real torch 2.13.0+cpu wheel from a local index, the real @actions/cache
// against a local stand-in for GitHub's cache service.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { poetryWheelhouse } from './harness/poetry.mjs';
import { applyExportedEnv } from './harness/runner.mjs';
import { snapshotTree, startStage } from './harness/stage.mjs';

let stage;
before(async () => {
  stage = await startStage();
});
after(async () => {
  await stage?.close();
});

const errors = (result) => result.annotations.filter((a) => a.level === 'error');
const torchDownloads = () => stage.index.requests.filter((r) => /torch-[^/]*\.whl$/.test(r.path ?? ''));

describe('seed project, cpu mode', () => {
  let workspace;
  let cold;
  let warm;

  test('cold: miss, sync, verify, save', async () => {
    workspace = await stage.workspace('seed', 'cpu-seed');
    cold = await stage.run(workspace, { mode: 'cpu' });
    assert.equal(cold.exitCode, 0, cold.log);
    assert.deepEqual(errors(cold), []);
    assert.equal(cold.outputs['torch-version'], '2.13.0+cpu');
    assert.equal(cold.outputs['torch-cuda-version'], '');
    assert.equal(cold.outputs['cuda-available'], 'false');
    assert.equal(cold.outputs['cache-hit'], 'false');
    assert.equal(cold.outputs.mode, 'cpu');
    assert.equal(cold.outputs['venv-path'], path.join(workspace, '.venv'));
    assert.match(cold.log, /poetry sync --no-interaction --no-ansi --extras=cpu/);
    assert.ok(
      stage.cache.entries().some((entry) => entry.key === cold.outputs['cache-key']),
      'the venv was saved under the primary key',
    );
    assert.match(cold.summary, /Cache restore \| miss/);
    assert.match(cold.summary, /Cache save \| saved in/);
    assert.match(cold.summary, /2\.13\.0\+cpu \(CPU build\)/);
    assert.deepEqual(cold.groups, [
      'Detect the GPU',
      'Prepare the project, Python and Poetry',
      'Restore the virtualenv',
      'Sync: poetry sync --no-interaction --no-ansi --extras=cpu',
      'Verify torch',
      'Save the virtualenv',
    ]);
  });

  test('warm: a new job at the same path gets an exact hit and skips the sync', async () => {
    await fs.rm(path.join(workspace, '.venv'), { recursive: true });
    const entriesBefore = stage.cache.entries().length;
    warm = await stage.run(workspace, { mode: 'cpu' });
    assert.equal(warm.exitCode, 0, warm.log);
    assert.equal(warm.outputs['cache-hit'], 'true');
    assert.equal(warm.outputs['cache-matched-key'], cold.outputs['cache-key']);
    assert.equal(warm.outputs['torch-version'], '2.13.0+cpu');
    assert.match(warm.summary, /Sync \| skipped: exact cache hit/);
    assert.equal(stage.cache.entries().length, entriesBefore, 'nothing saved again');
  });

  test("a later step's `poetry run` uses the action's venv", async () => {
    const env = applyExportedEnv({ ...stage.baseEnv }, warm);
    const run = (args) => spawnSync('poetry', args, { cwd: workspace, env, encoding: 'utf8' });
    const where = run(['env', 'info', '--path']);
    assert.equal(where.stdout.trim(), path.join(workspace, '.venv'), where.stderr);
    const imported = run(['run', 'python', '-c', 'import torch; print(torch.__version__)']);
    assert.equal(imported.status, 0, imported.stderr);
    assert.equal(imported.stdout.trim(), '2.13.0+cpu');
  });

  test('a one-package lock change restores the torch install partially, then syncs the difference', async () => {
    const changed = await stage.workspace('plus-one-package', 'cpu-plus-one');
    for (const file of ['pyproject.toml', 'poetry.lock']) await fs.copyFile(path.join(changed, file), path.join(workspace, file));
    await fs.rm(path.join(workspace, '.venv'), { recursive: true });
    const partial = await stage.run(workspace, { mode: 'cpu' });
    assert.equal(partial.exitCode, 0, partial.log);
    assert.equal(partial.outputs['cache-hit'], 'false');
    assert.equal(partial.outputs['cache-matched-key'], cold.outputs['cache-key']);
    assert.notEqual(partial.outputs['cache-key'], cold.outputs['cache-key']);
    assert.match(partial.log, /Installing six/);
    assert.doesNotMatch(partial.log, /Installing torch/);
    assert.ok(stage.cache.entries().some((entry) => entry.key === partial.outputs['cache-key']));
  });
});

describe('cuda mode on this GPU-less machine', () => {
  test('fails before downloading anything when CUDA is expected', async () => {
    const workspace = await stage.workspace('seed', 'cuda-expected');
    const downloadsBefore = torchDownloads().length;
    const entriesBefore = stage.cache.entries().length;
    const result = await stage.run(workspace, { mode: 'cuda' });
    assert.equal(result.exitCode, 1);
    const [error] = errors(result);
    assert.match(error.message, /^mode is cuda and expect-cuda is true, but CUDA cannot work on this runner: .*no NVIDIA.*set expect-cuda: false/);
    assert.ok(result.durationMs < 10_000, `took ${result.durationMs} ms`);
    assert.equal(torchDownloads().length, downloadsBefore);
    assert.equal(stage.cache.entries().length, entriesBefore);
    await assert.rejects(fs.access(path.join(workspace, '.venv')));
    assert.doesNotMatch(result.log, /\n\s+at .*\.js:\d+/, 'no stack trace');
  });

  test('with expect-cuda: false installs and verifies the CUDA build (a test double wheel)', async () => {
    const workspace = await stage.workspace('seed', 'cuda-build');
    const result = await stage.run(workspace, { mode: 'cuda', 'expect-cuda': 'false' });
    assert.equal(result.exitCode, 0, result.log);
    assert.match(result.log, /poetry sync --no-interaction --no-ansi --extras=cuda --with=cuda/);
    assert.equal(result.outputs['torch-version'], '2.14.1+cu130');
    assert.equal(result.outputs['torch-cuda-version'], '13.0');
    assert.equal(result.outputs['cuda-available'], 'false');
    assert.match(result.outputs['cache-key'], /-cuda-/);
    assert.ok(stage.cache.entries().some((entry) => entry.key === result.outputs['cache-key']));
  });

  test('a lock whose cuda group pins the CPU torch fails before any download, naming the lock', async () => {
    const workspace = await stage.workspace(
      (text) => text.replace(/(\[tool\.poetry\.group\.cuda\.dependencies\]\ntorch = \{[^}]*source = )"pytorch-cuda"/, '$1"pytorch-cpu"'),
      'cuda-pins-cpu',
    );
    const downloadsBefore = torchDownloads().length;
    const result = await stage.run(workspace, { mode: 'cuda', 'expect-cuda': 'false' });
    assert.equal(result.exitCode, 1);
    const [error] = errors(result);
    assert.match(error.message, /^mode is cuda, but .*poetry\.lock pins no CUDA build of torch .*only torch 2\.13\.0\+cpu from pytorch-cpu/);
    assert.equal(error.properties.file, path.join(workspace, 'poetry.lock'));
    assert.equal(torchDownloads().length, downloadsBefore);
  });
});

describe('bad input', () => {
  for (const [inputs, pattern] of [
    [{ mode: 'gpu' }, /^Input 'mode' is "gpu"; allowed: auto, cpu, cuda\.$/],
    [{ 'expect-cuda': 'maybe' }, /^Input 'expect-cuda' is "maybe"; allowed: auto, true, false\.$/],
    [{ cache: 'yes please' }, /^Input 'cache' is "yes please"; allowed: true, false\.$/],
    [{ 'working-directory': '../..' }, /^Input 'working-directory' is "\.\.\/\.\."; allowed: a directory inside the workspace\.$/],
    [{ 'cuda-groups': 'gpu', mode: 'cuda', 'expect-cuda': 'false' }, /^Group 'gpu' \(input cuda-groups\) is not declared in pyproject\.toml/],
  ]) {
    test(`${JSON.stringify(inputs)} fails with one line and leaves the workspace alone`, async () => {
      const workspace = await stage.workspace('seed', `bad-${Object.values(inputs).join('-').replace(/\W+/g, '_')}`);
      const before = await snapshotTree(workspace, []);
      const result = await stage.run(workspace, inputs);
      assert.equal(result.exitCode, 1);
      const found = errors(result);
      assert.equal(found.length, 1, JSON.stringify(result.annotations));
      assert.match(found[0].message, pattern);
      assert.doesNotMatch(result.log, /\n\s+at .*\.js:\d+/, 'no stack trace');
      assert.deepEqual(await snapshotTree(workspace, []), before);
    });
  }

  test('a missing poetry.lock stops the step; Poetry never re-locks in CI', async () => {
    const workspace = await stage.workspace('seed', 'no-lock');
    await fs.rm(path.join(workspace, 'poetry.lock'));
    const result = await stage.run(workspace, { mode: 'cpu' });
    assert.equal(result.exitCode, 1);
    const [error] = errors(result);
    assert.match(error.message, /^poetry\.lock not found in .*run `poetry lock` and commit poetry\.lock/);
    await assert.rejects(fs.access(path.join(workspace, 'poetry.lock')));
  });
});

describe('a runner without Poetry', () => {
  test('installs the pinned Poetry with pip, exposes only `poetry` on PATH, and syncs', async () => {
    const workspace = await stage.workspace('seed', 'no-poetry');
    // Poetry's wheels from PyPI, fetched once into .cache/; pip installs them offline here.
    const wheelhouse = await poetryWheelhouse();
    const withoutPoetry = stage.baseEnv.PATH.split(path.delimiter)
      .filter((dir) => !dir.endsWith('poetry-bin'))
      .join(path.delimiter);
    const toolCache = path.join(stage.scratch, 'tool-cache');
    const result = await stage.run(workspace, { mode: 'cpu', cache: 'false' }, { env: { PATH: withoutPoetry, ...wheelhouse.env }, toolCache });
    assert.equal(result.exitCode, 0, result.log);
    assert.match(result.summary, /Poetry \| 2\.5\.1 \(installed by this step\)/);
    assert.deepEqual(result.path, [path.join(toolCache, 'poetry', '2.5.1', 'bin')]);
    assert.deepEqual(await fs.readdir(result.path[0]), ['poetry']);
    assert.equal(result.outputs['torch-version'], '2.13.0+cpu');
  });
});
