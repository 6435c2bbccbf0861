// Faults of the package index and bad input, end to end (issue 4): the index stand-in's fault
// switches, broken projects and wrong inputs. The cases, the ledger and the fault switches are
// in e2e/harness/faults.mjs.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { VARIANTS, dropTable } from './harness/project.mjs';
import { assertVerified, errors, exists, faultCase, oneError, stage, useFaultStage, warnings } from './harness/faults.mjs';
import { snapshotTree } from './harness/stage.mjs';

useFaultStage();

describe('the package index', () => {
  faultCase('torch index returns 503 a few times, then recovers: bounded retry, step passes, the summary counts the tries', async (c) => {
    const dir = await c.workspace();
    const from = stage.index.requests.length;
    // More 503s than Poetry's own six tries absorb, fewer than two syncs' worth.
    Object.assign(stage.index.faults, { status: { code: 503, count: 8, retryAfter: 0 }, match: '/whl/cpu/torch/' });
    let result;
    try {
      result = await c.run(dir, { mode: 'cpu', cache: 'false' }, { env: { SETUP_POETRY_TORCH_RETRY_BACKOFF_MS: '300' } });
    } finally {
      Object.assign(stage.index.faults, { status: null, match: null });
    }
    assertVerified(result);
    assert.ok(stage.index.requests.slice(from).filter((r) => r.fault === 503).length >= 6);
    assert.ok(
      warnings(result).some((w) => /network\/index error \(try 1 of 3\); retrying/.test(w.message)),
      JSON.stringify(result.annotations),
    );
    assert.match(result.summary, /Sync \| `poetry sync [^|]*` in [\d.]+ s, 2 tries/);
  });

  describe('with the index down, and project errors that never reach it', { concurrency: 6 }, () => {
    let downSince;
    before(() => {
      stage.index.faults.down = true;
      downSince = stage.index.requests.length;
    });
    after(() => {
      stage.index.faults.down = false;
    });

    faultCase('torch index down for good: fails with Poetry’s own message and the URL, in one annotation', async (c) => {
      const dir = await c.workspace();
      const result = await c.run(dir, { mode: 'cpu', cache: 'false' }, { env: { SETUP_POETRY_TORCH_RETRY_BACKOFF_MS: '200' } });
      const message = oneError(result);
      const host = new URL(stage.index.url).host;
      assert.ok(message.includes(`All attempts to connect to ${host} failed.`), message);
      assert.ok(message.includes(`pytorch-cpu = ${stage.index.cpuUrl.replace(/\/$/, '')}`), message);
      assert.match(message, /after 3 tries/);
      assert.ok(stage.index.requests.slice(downSince).some((r) => r.status === 'down'));
    });

    const lockOf = (dir) => fs.readFile(path.join(dir, 'poetry.lock'), 'utf8');

    faultCase('poetry.lock missing: one-line error with the fix; no lock is written', async (c) => {
      const dir = await c.workspace();
      await fs.rm(path.join(dir, 'poetry.lock'));
      const result = await c.run(dir, { mode: 'cpu' });
      assert.match(oneError(result), /^poetry\.lock not found in .*: run `poetry lock` and commit poetry\.lock/);
      assert.equal(await exists(path.join(dir, 'poetry.lock')), false);
    });

    faultCase('poetry.lock stale: one-line error with the fix; the lock is not modified', async (c) => {
      const dir = await c.workspace();
      const file = path.join(dir, 'pyproject.toml');
      await fs.writeFile(
        file,
        (await fs.readFile(file, 'utf8')).replace('version = "^2.13", source = "pytorch-cpu"', 'version = ">=2.12", source = "pytorch-cpu"'),
      );
      const lock = await lockOf(dir);
      const result = await c.run(dir, { mode: 'cpu' });
      assert.match(oneError(result), /poetry\.lock is stale .*run `poetry lock` in .* and commit poetry\.lock/);
      assert.equal(await lockOf(dir), lock);
    });

    faultCase('poetry.lock from a newer Poetry: one-line error quoting Poetry, with the fix; the lock is not modified', async (c) => {
      const dir = await c.workspace();
      const file = path.join(dir, 'poetry.lock');
      await fs.writeFile(file, (await lockOf(dir)).replace(/^lock-version = "[^"]+"/m, 'lock-version = "9.9"'));
      const lock = await lockOf(dir);
      const result = await c.run(dir, { mode: 'cpu' });
      const message = oneError(result);
      assert.match(message, /poetry\.lock was written by a newer Poetry/);
      assert.match(message, /The lock file is not compatible with the current version of Poetry/);
      assert.equal(await lockOf(dir), lock);
    });

    for (const [name, variant, inputs, pattern, fileName] of [
      [
        'extra not declared',
        'no-extras',
        { mode: 'cpu' },
        /pyproject\.toml: the torch markers use extras it does not declare \(cpu, cuda\).*Add them to \[tool\.poetry\.extras\] \(e\.g\. `cpu = \["torch"\]`\)/,
      ],
      [
        'group not declared',
        'no-cuda-group',
        { mode: 'cuda', 'expect-cuda': 'false' },
        /^mode is cuda, but .*poetry\.lock pins no CUDA build of torch that `poetry sync` installs on this runner, only torch 2\.13\.0\+cpu from pytorch-cpu \(--extras cpu\)/,
        'poetry.lock',
      ],
      [
        'torch missing from the CPU variant',
        (t) => t.replace(/^torch = .*pytorch-cpu.*\n/m, ''),
        { mode: 'cpu' },
        /^\[tool\.poetry\.dependencies\] has no torch entry, but .*poetry\.lock pins torch 2\.13\.0\+cpu there for cpu mode/,
      ],
      [
        'torch missing from the CUDA variant',
        (t) =>
          dropTable(t, 'tool.poetry.group.cuda.dependencies').replace(
            '[tool.poetry.group.cuda]\noptional = true\n',
            '[tool.poetry.group.cuda]\noptional = true\n[tool.poetry.group.cuda.dependencies]\nsix = "^1.16"\n',
          ),
        { mode: 'cuda', 'expect-cuda': 'false' },
        /^\[tool\.poetry\.group\.cuda\.dependencies\] has no torch entry, but .*poetry\.lock pins torch 2\.14\.1\+cu130 there for cuda mode/,
      ],
    ]) {
      faultCase(`${name}: one-line error naming the table and key to add`, async (c) => {
        // The lock is made from the unchanged seed: the check must come before Poetry sees the project.
        const dir = await c.workspace('seed');
        const file = path.join(dir, 'pyproject.toml');
        await fs.writeFile(file, (typeof variant === 'function' ? variant : VARIANTS[variant])(await fs.readFile(file, 'utf8')));
        const result = await c.run(dir, inputs);
        assert.match(oneError(result), pattern);
        assert.equal(errors(result)[0].properties.file, path.join(dir, fileName ?? 'pyproject.toml'));
      });
    }

    faultCase('pyproject.toml not valid TOML: error with the line and column', async (c) => {
      const dir = await c.workspace();
      const file = path.join(dir, 'pyproject.toml');
      const lines = (await fs.readFile(file, 'utf8')).split('\n');
      const at = lines.findIndex((line) => line.startsWith('[tool.poetry.extras]'));
      lines[at] = 'cpu = ["torch"';
      await fs.writeFile(file, lines.join('\n'));
      const result = await c.run(dir, { mode: 'cpu' });
      assert.match(oneError(result), new RegExp(`^pyproject\\.toml is not valid TOML at line ${at + 2}, column \\d+: `));
    });

    faultCase('working-directory missing: one-line error', async (c) => {
      const dir = await c.workspace();
      const result = await c.run(dir, { mode: 'cpu', 'working-directory': 'services/ml' });
      assert.match(oneError(result), /^Input 'working-directory' is "services\/ml", which does not exist/);
    });

    faultCase('working-directory is not a Poetry project: one-line error', async (c) => {
      const dir = await c.workspace();
      await fs.mkdir(path.join(dir, 'docs'));
      await fs.writeFile(path.join(dir, 'docs', 'pyproject.toml'), '[tool.black]\nline-length = 100\n');
      const result = await c.run(dir, { mode: 'cpu', 'working-directory': 'docs' });
      assert.match(oneError(result), /pyproject\.toml has neither \[tool\.poetry\] nor \[project\]: this is not a Poetry project/);
    });

    for (const [inputs, allowed] of [
      [{ mode: 'gpu' }, /^Input 'mode' is "gpu"; allowed: auto, cpu, cuda\.$/],
      [{ 'expect-cuda': 'maybe' }, /^Input 'expect-cuda' is "maybe"; allowed: auto, true, false\.$/],
      [{ cache: 'yes please' }, /^Input 'cache' is "yes please"; allowed: true, false\.$/],
      [{ 'poetry-version': 'latest' }, /^Input 'poetry-version' is "latest"; allowed: a version such as \d+\.\d+\.\d+\.$/],
      [{ 'cpu-extras': 'cpu;rm -rf ~' }, /^Input 'cpu-extras' is "cpu;rm"; allowed: `auto`, `none`, or names of letters, digits/],
      [{ 'cuda-extras': 'cuda|sh', mode: 'cuda' }, /^Input 'cuda-extras' is "cuda\|sh"; allowed: `auto`, `none`, or names of letters, digits/],
      [{ 'cuda-groups': '../gpu', mode: 'cuda' }, /^Input 'cuda-groups' is "\.\.\/gpu"; allowed: `auto`, `none`, or names of letters, digits/],
      [{ 'cache-suffix': 'a,b' }, /^Input 'cache-suffix' is "a,b"; allowed: one line of at most 100 characters without commas\.$/],
      [{ 'cache-suffix': 'line1\nline2' }, /^Input 'cache-suffix' is "line1\\nline2"; allowed: one line/],
      [{ python: '3.12\n$(touch /tmp/x)' }, /^Input 'python' is .*; allowed: a version such as 3\.12 or a path to an interpreter\.$/],
      [{ 'sync-args': '--directory=..' }, /^Input 'sync-args' is "--directory=\.\."; allowed: poetry sync options other than/],
      [{ 'sync-args': '-C..' }, /^Input 'sync-args' is "-C\.\."; allowed: poetry sync options other than/],
      [{ 'sync-args': '-qP../other' }, /^Input 'sync-args' is "-qP\.\.\/other"; allowed: poetry sync options other than/],
      [{ 'working-directory': '../..' }, /^Input 'working-directory' is "\.\.\/\.\."; allowed: a directory inside the workspace\.$/],
      [{ 'working-directory': 'src/../../outside' }, /^Input 'working-directory' is "src\/\.\.\/\.\.\/outside"; allowed: a directory inside the workspace\.$/],
    ]) {
      faultCase(`wrong input ${JSON.stringify(inputs)}: one-line error naming the input and its allowed values`, async (c) => {
        const dir = await c.workspace();
        const result = await c.run(dir, { mode: 'cpu', ...inputs });
        assert.match(oneError(result), allowed);
        assert.equal(await exists(path.join(dir, '.venv')), false, 'stopped before touching anything');
      });
    }

    faultCase('a working-directory symlinked out of the workspace is refused: no venv is made outside', async (c) => {
      const dir = await c.workspace();
      const outside = await c.workspace('seed', 'outside');
      await fs.symlink(outside, path.join(dir, 'linked'));
      const before = await snapshotTree(outside, []);
      const result = await c.run(dir, { mode: 'cpu', 'working-directory': 'linked' });
      assert.match(oneError(result), /^Input 'working-directory' is "linked"; allowed: a directory inside the workspace/);
      assert.deepEqual(await snapshotTree(outside, []), before);
    });

    faultCase('inputs carrying shell metacharacters and newlines are data: nothing runs them', async (c) => {
      const dir = await c.workspace();
      const planted = Array.from({ length: 6 }, (_, i) => path.join(os.tmpdir(), `pwned-${process.pid}-${i}`));
      const result = await c.run(dir, {
        mode: 'cpu',
        'sync-args': `$(touch ${planted[0]}) \`touch ${planted[1]}\`\n;touch ${planted[2]}`,
        'cache-suffix': `$(touch ${planted[3]}); touch ${planted[4]} | touch ${planted[5]}`,
      });
      // Poetry itself rejects the words as arguments: they reached it as argv, not through a shell.
      assert.match(oneError(result), /poetry sync .*failed: No arguments expected for "sync" command, got "\$\(touch"/);
      for (const file of planted) assert.equal(await exists(file), false, `${file} was created`);
      assert.doesNotMatch(result.outputs['cache-key'], /[$`;| ]/, 'the suffix is sanitised in the key');
    });

    faultCase("the user's files survive every stage's failure unchanged (tree diff)", async (c) => {
      // One workspace, failures at input, project, Poetry and verification: Case.run diffs the tree each time.
      const dir = await c.workspace();
      await fs.writeFile(path.join(dir, '.env'), 'SECRET=1\n');
      assert.equal((await c.run(dir, { mode: 'gpu' })).exitCode, 1);
      assert.equal((await c.run(dir, { mode: 'cpu', 'cpu-extras': 'nope' })).exitCode, 1);
      assert.equal((await c.run(dir, { mode: 'cpu', 'sync-args': '--no-such-option' })).exitCode, 1);
      const full = await snapshotTree(dir, ['.venv']);
      assert.ok(Object.keys(full).includes('.env') && Object.keys(full).includes(path.join('data', 'weights.bin')));
    });
  });
});
