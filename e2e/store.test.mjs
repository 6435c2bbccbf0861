// The venv store on a simulated self-hosted runner (issue 12): jobs share the runner's tool
// cache, the workspace is cleaned between jobs as actions/checkout does, and each job runs the
// action's post step (the save) as the runner does. Real Poetry, real torch 2.13.0+cpu, the real
// @actions/cache against the harness's cache service.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildWheel, runOk } from './harness/wheels.mjs';
import { startCacheServer } from './harness/cache-server.mjs';
import { startStage } from './harness/stage.mjs';

let stage;
let toolCache;
before(async () => {
  stage = await startStage();
  toolCache = await fs.mkdtemp(path.join(stage.scratch, 'runner-tool-cache-'));
});
after(async () => {
  await stage?.close();
});

const warnings = (result) => result.annotations.filter((a) => a.level === 'warning').map((a) => a.message);
/** Archive downloads from the cache service: blob GETs (the twirp calls are POSTs). */
const downloads = (server) => server.requests.filter((r) => r.method === 'GET' && !r.path.startsWith('/twirp/')).length;
const storeEntries = async (root) => {
  const found = [];
  const entries = path.join(root, 'v1', 'entries');
  for (const repo of await fs.readdir(entries).catch(() => [])) {
    for (const ref of await fs.readdir(path.join(entries, repo))) {
      for (const name of await fs.readdir(path.join(entries, repo, ref))) found.push({ ref, name, dir: path.join(entries, repo, ref, name) });
    }
  }
  return found;
};
/** What actions/checkout's `clean: true` (git clean -ffdx) does to the venv: gone. */
const clean = (workspace) => fs.rm(path.join(workspace, '.venv'), { recursive: true, force: true });
const sitePackages = async (venv) => path.join(venv, 'lib', (await fs.readdir(path.join(venv, 'lib')))[0], 'site-packages');

describe('one self-hosted runner, one store', () => {
  let workspace;
  let first;

  test('a venv made by `poetry env use` is synced in place, verified and saved after the job; a later pip install is not saved', async () => {
    workspace = await stage.workspace('seed', 'runner-ws');
    await runOk('poetry', ['env', 'use', 'python3'], { cwd: workspace, env: stage.baseEnv });
    const extra = await buildWheel(path.join(stage.scratch, 'later-step-wheels'), {
      name: 'added_later',
      version: '1.0',
      metadata: 'Metadata-Version: 2.1\nName: added_later\nVersion: 1.0\n',
      files: [{ name: 'added_later/__init__.py', data: 'X = 1\n' }],
    });
    first = await stage.run(
      workspace,
      { mode: 'cpu' },
      {
        toolCache,
        // A later step of the job installs a package into the venv with pip.
        laterSteps: async (main) => runOk('python3', ['-m', 'pip', '--python', main.outputs['python-path'], 'install', '-q', '--no-index', extra]),
      },
    );
    assert.equal(first.exitCode, 0, first.log);
    assert.match(first.main.summary, /Cache restore \| kept the existing venv, synced in place/);
    assert.equal(first.outputs['restored-from'], 'none');
    assert.match(first.log, /Installing torch \(2\.13\.0\+cpu\)/);
    await fs.access(path.join(await sitePackages(path.join(workspace, '.venv')), 'added_later'));
    assert.match(first.post.summary, /Venv store \| saved in/);
    assert.match(first.post.summary, /Cache save \| saved in/);
    const [entry] = await storeEntries(path.join(toolCache, 'setup-poetry-torch'));
    assert.ok(entry, 'published to the store');
    await assert.rejects(fs.access(path.join(await sitePackages(path.join(entry.dir, 'venv')), 'added_later')), 'the store holds the venv as verified');
  });

  test('the next job on the runner moves the venv in from the store, downloads nothing, and the post step puts it back', async () => {
    await clean(workspace);
    const before = downloads(stage.cache);
    const second = await stage.run(workspace, { mode: 'cpu' }, { toolCache });
    assert.equal(second.exitCode, 0, second.log);
    assert.equal(second.outputs['restored-from'], 'store');
    assert.equal(second.outputs['cache-hit'], 'true');
    assert.equal(second.outputs['torch-version'], '2.13.0+cpu');
    assert.match(second.summary, /Sync \| skipped: exact store hit/);
    assert.equal(downloads(stage.cache), before, 'no archive downloaded');
    await assert.rejects(fs.access(path.join(await sitePackages(path.join(workspace, '.venv')), 'added_later')));
    assert.match(second.log, /Moved .*\.venv from the venv store/);
    assert.match(second.summary, /Venv store \| in the post step/);
    assert.match(second.post.summary, /Venv store \| saved in/);
    assert.doesNotMatch(second.post.summary, /Cache save/, 'an exact hit saves nothing new to the cache');
    const [entry] = await storeEntries(path.join(toolCache, 'setup-poetry-torch'));
    assert.ok(entry, 'published again after the job');
    const key = await fs.readFile(path.join(workspace, '.venv', '.setup-poetry-torch-key'), 'utf8');
    assert.equal(await fs.readFile(path.join(entry.dir, 'venv', '.setup-poetry-torch-key'), 'utf8'), key);
  });

  test('after `poetry env use` in a clean workspace the job still gets an exact hit', async () => {
    await clean(workspace);
    await runOk('poetry', ['env', 'use', 'python3'], { cwd: workspace, env: stage.baseEnv });
    const third = await stage.run(workspace, { mode: 'cpu' }, { toolCache });
    assert.equal(third.exitCode, 0, third.log);
    assert.equal(third.outputs['cache-hit'], 'true');
    assert.equal(third.outputs['restored-from'], 'store');
    assert.doesNotMatch(third.log, /Installing torch/);
  });

  test('an existing venv that carries the primary key is an exact local hit (a persistent workspace)', async () => {
    const again = await stage.run(workspace, { mode: 'cpu' }, { toolCache });
    assert.equal(again.exitCode, 0, again.log);
    assert.equal(again.outputs['cache-hit'], 'true');
    assert.equal(again.outputs['restored-from'], 'none');
    assert.match(again.summary, /Sync \| skipped: exact local hit/);
  });

  test('a store entry written in place after publishing is discarded, never served', async () => {
    // The workspace's venv shares the entry's inodes; a later step edits a file in place.
    const [entry] = await storeEntries(path.join(toolCache, 'setup-poetry-torch'));
    await fs.appendFile(path.join(await sitePackages(path.join(workspace, '.venv')), 'torch', 'version.py'), '# edited in place\n');
    await clean(workspace);
    const result = await stage.run(workspace, { mode: 'cpu' }, { toolCache });
    assert.equal(result.exitCode, 0, result.log);
    assert.equal(result.outputs['restored-from'], 'cache');
    assert.ok(
      warnings(result).some((w) => /changed after it was published \(.*version\.py changed\)/.test(w)),
      JSON.stringify(result.annotations),
    );
    const edited = await fs.readFile(path.join(await sitePackages(path.join(workspace, '.venv')), 'torch', 'version.py'), 'utf8');
    assert.doesNotMatch(edited, /edited in place/);
    // The post step published the venv it verified in place of the changed entry.
    assert.match(result.post.summary, /Venv store \| saved in/);
    const republished = await fs.readFile(path.join(await sitePackages(path.join(entry.dir, 'venv')), 'torch', 'version.py'), 'utf8');
    assert.doesNotMatch(republished, /edited in place/);
  });
});

describe('store scoping and sharing', () => {
  const event = () => path.join(stage.scratch, 'event.json');
  let tools;
  let home;

  test("a pull request's entry is not restored by a default-branch job", async () => {
    tools = await fs.mkdtemp(path.join(stage.scratch, 'scoped-tools-'));
    await fs.writeFile(event(), JSON.stringify({ repository: { default_branch: 'main' } }));
    home = await stage.workspace('seed', 'scoped-ws');
    const other = await startCacheServer();
    try {
      // The default branch publishes first (a cold job); the pull request reads that entry
      // and publishes its own key (its cache saves go to a service of their own: only the
      // store's scoping is under test here).
      const onMain = { GITHUB_EVENT_PATH: event() };
      const main = await stage.run(home, { mode: 'cpu' }, { toolCache: tools, env: onMain });
      assert.equal(main.exitCode, 0, main.log);
      await clean(home);
      const prEnv = { ...onMain, ...other.env, GITHUB_REF: 'refs/pull/7/merge', GITHUB_BASE_REF: 'main', GITHUB_EVENT_NAME: 'pull_request' };
      const pr = await stage.run(home, { mode: 'cpu', 'cache-suffix': 'pr' }, { toolCache: tools, useCache: false, env: prEnv });
      assert.equal(pr.exitCode, 0, pr.log);
      assert.equal(pr.outputs['restored-from'], 'store', "the PR read the default branch's entry");
      assert.equal(pr.outputs['cache-matched-key'], main.outputs['cache-key']);
      assert.match(pr.post.summary, /Venv store \| saved in/);
      await clean(home);
      const mainAgain = await stage.run(home, { mode: 'cpu', 'cache-suffix': 'pr' }, { toolCache: tools, env: onMain, post: false });
      assert.equal(mainAgain.exitCode, 0, mainAgain.log);
      assert.equal(mainAgain.outputs['cache-hit'], 'false', "the PR's entry was not restored");
      assert.equal(mainAgain.outputs['cache-matched-key'], main.outputs['cache-key'], "the default branch's own entry, as a partial hit");
      const refs = (await storeEntries(path.join(tools, 'setup-poetry-torch'))).map((entry) => entry.ref);
      assert.ok(refs.some((ref) => /pull/.test(ref)) && refs.some((ref) => /heads_main/.test(ref)), refs.join());
    } finally {
      await other.close();
    }
  });

  test('two concurrent jobs share one store: one links an entry while the other publishes and evicts', async () => {
    const root = path.join(tools, 'setup-poetry-torch');
    await clean(home);
    const fresh = await stage.workspace('seed', 'concurrent-ws');
    // A 1 KiB limit: every publish evicts every entry that no reader holds a lease on.
    const inputs = { mode: 'cpu', 'venv-store-max-size': '1K' };
    const [reader, publisher] = await Promise.all([
      stage.run(home, inputs, { toolCache: tools, env: { GITHUB_EVENT_PATH: event() } }),
      stage.run(fresh, inputs, { toolCache: tools, env: { GITHUB_EVENT_PATH: event() } }),
    ]);
    for (const job of [reader, publisher]) {
      assert.equal(job.exitCode, 0, job.log);
      assert.equal(job.outputs['torch-version'], '2.13.0+cpu');
    }
    // The reader got the entry whole, or (evicted before it found it) fell back to the cache.
    assert.ok(['store', 'cache'].includes(reader.outputs['restored-from']), reader.outputs['restored-from']);
    assert.match(publisher.post.summary, /Venv store \| saved in/);
    assert.deepEqual(await fs.readdir(path.join(root, 'v1', 'tmp')), [], 'no half-built entry left');
    const entries = await storeEntries(root);
    assert.ok(entries.length >= 1, 'the newest entry is kept');
    for (const entry of entries) {
      for (const part of ['meta.json', 'manifest.json', 'venv/pyvenv.cfg']) await fs.access(path.join(entry.dir, part));
    }
  });
});
