// Faults of the cache service and of what it stores, end to end (issue 4): the cache service
// stand-in's fault switches, real archives cut short, real env vars, a real tmpfs, a real mount
// namespace. The cases, the ledger and the fault switches are in e2e/harness/faults.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, describe } from 'node:test';
import { cacheVersion } from './harness/cache-server.mjs';
import {
  NODE,
  archive,
  assertVerified,
  canMount,
  closedPort,
  coldSync,
  disposablePython,
  faultCase,
  notices,
  oneError,
  otherPython,
  restorePrefix,
  seedJob,
  sh,
  stage,
  twirp,
  useFaultStage,
  warnings,
} from './harness/faults.mjs';
import { snapshotTree } from './harness/stage.mjs';

useFaultStage({ learnKey: true });

describe('cache service and archives', { concurrency: 4 }, () => {
  // One after another: these jobs take turns at the same path (a parent's concurrency would be inherited).
  describe("later jobs at the seeding job's path (the shared cache server)", { concurrency: 1 }, () => {
    let home;
    const fresh = () => fs.rm(path.join(home, '.venv'), { recursive: true, force: true });

    before(async () => {
      ({ home } = await seedJob());
    });

    for (const [variable, reason] of [
      ['ACTIONS_RUNTIME_TOKEN', /^Cache skipped: the runner gave this step no ACTIONS_RUNTIME_TOKEN\.$/],
      ['ACTIONS_RESULTS_URL', /^Cache skipped: the cache service is not configured on this runner/],
    ]) {
      faultCase(`no ${variable}: the cache is skipped with one notice; the existing venv is used and verified`, async (c) => {
        // The seeding job's .venv is still there, as on a persistent self-hosted runner; it carries
        // the key it was verified for, so it is an exact local hit (issue 12) and verify still runs.
        const from = stage.cache.requests.length;
        const result = await c.run(home, { mode: 'cpu' }, { cache: stage.cache, env: { [variable]: undefined } });
        assertVerified(result);
        assert.equal(notices(result).length, 1, JSON.stringify(result.annotations));
        assert.match(notices(result)[0].message, reason);
        assert.deepEqual(warnings(result), []);
        assert.match(result.summary, /Sync \| skipped: exact local hit/);
        assert.match(result.log, /::group::Verify torch/);
        assert.equal(stage.cache.requests.length, from, 'no request reached the cache service');
      });
    }

    faultCase('ACTIONS_CACHE_MODE=none: nothing restored, nothing saved, no warning', async (c) => {
      // The seeding job's .venv is still there and carries its key: an exact local hit, verified; the service is never asked.
      const from = stage.cache.requests.length;
      const result = await c.run(home, { mode: 'cpu' }, { cache: stage.cache, env: { ACTIONS_CACHE_MODE: 'none' } });
      assertVerified(result);
      assert.equal(stage.cache.requests.length, from, 'no request reached the cache service');
      assert.equal(result.outputs['restored-from'], 'none', 'nothing restored');
      assert.deepEqual(warnings(result), []);
      assert.equal(notices(result).length, 1, JSON.stringify(result.annotations));
      assert.match(notices(result)[0].message, /^Cache skipped: ACTIONS_CACHE_MODE is 'none'/);
      assert.match(result.summary, /Cache save \| not saved: ACTIONS_CACHE_MODE is 'none'/);
    });

    faultCase('the service answers 5xx to the first calls only: the library retries and gets an exact hit', async (c) => {
      await fresh();
      const from = stage.cache.requests.length;
      stage.cache.faults.status = { code: 503, count: 2, methods: ['GetCacheEntryDownloadURL'] };
      const result = await c.run(home, { mode: 'cpu' }, { cache: stage.cache });
      stage.cache.faults.status = null;
      assertVerified(result);
      assert.equal(result.outputs['cache-hit'], 'true');
      assert.deepEqual(
        twirp(stage.cache, 'GetCacheEntryDownloadURL', from).map((r) => r.status),
        [503, 503, 200],
      );
      assert.match(result.log, /Attempt 1 of 5 failed with error: Failed request: \(503\)/);
      assert.match(result.summary, /Sync \| skipped: exact cache hit/);
      assert.deepEqual(warnings(result), []);
    });

    faultCase('ACTIONS_CACHE_MODE=read: restores, never writes, no warning', async (c) => {
      await fresh();
      const from = stage.cache.requests.length;
      const count = stage.cache.entries().length;
      // Another suffix: the exact key misses, the restore key hits, so a writer would save.
      const result = await c.run(home, { mode: 'cpu', 'cache-suffix': 'read-only' }, { cache: stage.cache, env: { ACTIONS_CACHE_MODE: 'read' } });
      assertVerified(result);
      assert.notEqual(result.outputs['cache-matched-key'], '', 'restored from a restore key');
      assert.doesNotMatch(result.log, /Installing torch/);
      assert.equal(twirp(stage.cache, 'CreateCacheEntry', from).length, 0);
      assert.equal(stage.cache.entries().length, count);
      assert.deepEqual(warnings(result), []);
      assert.match(result.summary, /Cache save \| not saved: .*ACTIONS_CACHE_MODE/);
    });

    faultCase('verification fails: nothing saved, ever', async (c) => {
      const from = stage.cache.requests.length;
      const count = stage.cache.entries().length;
      // Two jobs: each restores a good venv from a restore key (so a save would follow), then
      // a real probe finds CUDA unavailable although expect-cuda is true.
      for (let job = 1; job <= 2; job++) {
        await fresh();
        const result = await c.run(home, { mode: 'cpu', 'expect-cuda': 'true', 'cache-suffix': 'expects-a-gpu' }, { cache: stage.cache });
        assert.match(oneError(result), /torch\.cuda\.is_available\(\) is False but expect-cuda is true/);
        assert.notEqual(result.outputs['cache-matched-key'], '', 'restored from a restore key');
        assert.match(result.summary, /Cache save \| not saved: verification failed/);
      }
      assert.equal(twirp(stage.cache, 'CreateCacheEntry', from).length, 0, 'no save was even attempted');
      assert.equal(stage.cache.entries().length, count);
    });
  });

  faultCase('service answers 5xx to every call: bounded retries, warnings (not errors), cold sync, nothing saved', async (c) => {
    const server = await c.server();
    server.faults.status = { code: 503 };
    const dir = await c.workspace();
    const result = await c.run(dir, { mode: 'cpu' }, { cache: server });
    assertVerified(result);
    coldSync(result);
    assert.equal(twirp(server, 'GetCacheEntryDownloadURL').length, 5, 'the restore gave up after the library’s 5 tries');
    assert.equal(twirp(server, 'CreateCacheEntry').length, 5, 'the save gave up after the library’s 5 tries');
    assert.ok(
      warnings(result).some((w) => /Failed to restore: .*503/.test(w.message)),
      JSON.stringify(result.annotations),
    );
    assert.ok(warnings(result).some((w) => /not saved to the cache/.test(w.message)));
    assert.deepEqual(server.entries(), []);
  });

  faultCase('archive corrupt (extraction stops half way): treated as a miss, the half-restored venv removed, cold sync, new save', async (c) => {
    const server = await c.server();
    const dir = await c.workspace();
    const key = `${await restorePrefix(dir)}ffffffff-broken`;
    await server.addEntry({ key, version: cacheVersion(['.venv']), file: (await seedJob()).brokenArchive });
    const result = await c.run(dir, { mode: 'cpu' }, { cache: server });
    assertVerified(result);
    assert.match(result.log, /Cache hit for restore-key: .*ffffffff-broken/);
    assert.ok(
      warnings(result).some((w) => /Failed to restore/.test(w.message)),
      JSON.stringify(result.annotations),
    );
    assert.equal(result.outputs['cache-matched-key'], '', 'the broken entry does not count as restored');
    await assert.rejects(fs.access(path.join(dir, '.venv', 'FROM-THE-BROKEN-ARCHIVE')), 'the half-restored venv was removed');
    coldSync(result);
    assert.ok(
      server.entries().some((entry) => entry.key === result.outputs['cache-key']),
      'the good venv was saved',
    );
  });

  faultCase('download truncated: treated as a miss, the partial archive removed, cold sync, new save', async (c) => {
    const server = await c.server();
    const dir = await c.workspace();
    const build = await fs.mkdtemp(path.join(stage.scratch, 'truncated-'));
    c.cleanups.push(() => fs.rm(build, { recursive: true, force: true }));
    sh('python3 -m venv --without-pip "$1"', [path.join(build, '.venv')]);
    archive(path.join(build, 'venv.tzst'), [[build, '.venv']]);
    const key = `${await restorePrefix(dir)}eeeeeeee-older`;
    await server.addEntry({ key, version: cacheVersion(['.venv']), file: path.join(build, 'venv.tzst') });
    const runnerTemp = await fs.mkdtemp(path.join(stage.scratch, 'runner-temp-'));
    c.cleanups.push(() => fs.rm(runnerTemp, { recursive: true, force: true }));
    // Content-Length promises the whole archive; half arrives, then the connection drops.
    server.faults.truncateDownload = 1;
    const result = await c.run(dir, { mode: 'cpu' }, { cache: server, runnerTemp });
    assertVerified(result);
    assert.ok(
      server.requests.some((r) => r.blobOp === 'get' && r.aborted),
      'the download was cut off',
    );
    assert.ok(
      warnings(result).some((w) => /Failed to restore/.test(w.message)),
      JSON.stringify(result.annotations),
    );
    assert.equal(result.outputs['cache-matched-key'], '');
    coldSync(result);
    assert.equal(sh('find "$1" -name "*.tzst"', [runnerTemp]).trim(), '', 'no archive left in RUNNER_TEMP');
    assert.ok(
      server.entries().some((entry) => entry.key === result.outputs['cache-key']),
      'the new venv was saved',
    );
  });

  faultCase('service unreachable (connection refused): warning, cold sync, step passes, one save attempt', async (c) => {
    const dir = await c.workspace();
    const url = `http://127.0.0.1:${await closedPort()}/`;
    const result = await c.run(dir, { mode: 'cpu' }, { cache: stage.cache, env: { ACTIONS_RESULTS_URL: url } });
    assertVerified(result);
    coldSync(result);
    assert.ok(
      warnings(result).some((w) => /Failed to restore: .*ECONNREFUSED/.test(w.message)),
      JSON.stringify(result.annotations),
    );
    assert.ok(warnings(result).some((w) => /not saved to the cache/.test(w.message)));
    assert.equal(result.log.match(/\[command\]\S*tar --posix -cf/g)?.length ?? 0, 1, 'one archive, one save attempt');
    assert.equal(result.groups.filter((g) => g === 'Save the virtualenv').length, 1);
  });

  faultCase('service replies slower than the bound: the step does not hang; warnings; cold sync; no save tried', async (c) => {
    const server = await c.server();
    server.faults.delayMs = 10 * 60_000;
    const dir = await c.workspace();
    // If the bound were gone, the runner would kill the step at timeoutMs and the case fails.
    const result = await c.run(dir, { mode: 'cpu' }, { cache: server, env: { SETUP_POETRY_TORCH_CACHE_TIMEOUT_MS: '4000' }, timeoutMs: 150_000 });
    assertVerified(result);
    coldSync(result);
    assert.match(result.summary, /Cache restore \| failed \(warning\): the cache service did not finish within 4 s/);
    // A second wait of the same bound (after archiving the venv) would double the stall.
    assert.match(
      result.summary,
      /Cache save \| not saved: not tried: the cache service stalled during the restore \(the cache service did not finish within 4 s\)/,
    );
    assert.equal(result.log.match(/\[command\]\S*tar --posix -cf/g)?.length ?? 0, 0, 'no archive was built');
    assert.equal(twirp(server, 'CreateCacheEntry').length, 0, 'no save was sent');
    assert.ok(warnings(result).some((w) => /Cache restore failed, continuing with a cold sync/.test(w.message)));
    assert.ok(warnings(result).some((w) => /not saved to the cache: not tried: the cache service stalled/.test(w.message)));
    assert.deepEqual(server.entries(), []);
  });

  faultCase(
    'duplicate save (two matrix jobs, same key, same path on two machines): one saves, the other says it exists; both pass',
    async (c) => {
      const server = await c.server();
      // Two "machines": each job sees its own checkout at the same absolute path through a bind
      // mount in a mount namespace of its own, so both compute the same key and cache version.
      const shared = path.join(stage.scratch, `matrix-${randomBytes(3).toString('hex')}`);
      await fs.mkdir(shared);
      c.cleanups.push(() => fs.rm(shared, { recursive: true, force: true }));
      const wrapper = path.join(stage.scratch, 'node-in-own-mount-namespace.sh');
      await fs.writeFile(
        wrapper,
        '#!/bin/sh\nexec unshare -m --propagation private sh -c \'mount --bind "$SPT_BIND_SOURCE" "$GITHUB_WORKSPACE" && cd "$GITHUB_WORKSPACE" && exec "$SPT_NODE" "$@"\' sh "$@"\n',
        { mode: 0o755 },
      );
      const job = async (tag) => {
        const checkout = await c.workspace('seed', tag);
        return c.run(shared, { mode: 'cpu' }, { cache: server, files: checkout, nodeBin: wrapper, env: { SPT_BIND_SOURCE: checkout, SPT_NODE: NODE } });
      };
      const results = await Promise.all([job('job-a'), job('job-b')]);
      for (const result of results) {
        assertVerified(result);
        assert.equal(result.outputs['venv-path'], path.join(shared, '.venv'));
      }
      assert.equal(results[0].outputs['cache-key'], results[1].outputs['cache-key']);
      const saved = results.filter((r) => /Cache save \| saved in/.test(r.summary));
      const existed = results.filter((r) => /Cache save \| not saved: .*already (exists|being saved)/.test(r.summary));
      assert.equal(saved.length, 1, results.map((r) => r.summary).join('\n'));
      assert.equal(existed.length, 1);
      assert.deepEqual(warnings(existed[0]), [], 'a duplicate is not worth a warning');
      assert.equal(server.entries().length, 1);
    },
    { skip: !canMount() && 'needs unshare -m and mount (root on Linux) to give two jobs the same path' },
  );

  faultCase(
    'disk too small for the archive at save time: warning, step passes, nothing half-written left',
    async (c) => {
      const server = await c.server();
      const dir = await c.workspace();
      const runnerTemp = await fs.mkdtemp(path.join(stage.scratch, 'tiny-runner-temp-'));
      c.cleanups.push(() => fs.rm(runnerTemp, { recursive: true, force: true }));
      // A real 8 MiB filesystem as RUNNER_TEMP, where @actions/cache writes its archive and the
      // snapshot of the verified venv is made (copied: another filesystem than the venv's).
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', runnerTemp], { encoding: 'utf8' });
      if (mounted.status !== 0) {
        c.cleanups.pop();
        await fs.rm(runnerTemp, { recursive: true, force: true });
        throw new Error(`cannot mount a tmpfs here (${mounted.stderr.trim()}): run as root`);
      }
      c.cleanups.push(async () => spawnSync('umount', ['-l', runnerTemp]));
      const result = await c.run(dir, { mode: 'cpu' }, { cache: server, runnerTemp });
      assertVerified(result);
      assert.ok(
        warnings(result).some((w) => /No space left on device|ENOSPC/i.test(w.message)) || /No space left on device/i.test(result.log),
        result.log.slice(-3000),
      );
      assert.ok(warnings(result).some((w) => /not saved to the cache/.test(w.message)));
      assert.equal(sh('find "$1" -name "*.tzst"', [runnerTemp]).trim(), '', 'the half-written archive was removed');
      assert.equal(twirp(server, 'CreateCacheEntry').length, 0);
      assert.deepEqual(server.entries(), []);
    },
    { skip: (process.platform !== 'linux' || process.getuid() !== 0) && 'needs root on Linux to mount a tmpfs' },
  );

  faultCase('a .venv folder that is not a virtualenv is neither synced into nor deleted', async (c) => {
    const server = await c.server();
    // No pyvenv.cfg: Poetry calls a folder whose python fails "broken" and deletes it...
    const dir = await c.workspace('seed', 'user-folder');
    await fs.mkdir(path.join(dir, '.venv', 'bin'), { recursive: true });
    await fs.writeFile(path.join(dir, '.venv', 'notes.txt'), 'the user keeps this here\n');
    await fs.writeFile(path.join(dir, '.venv', 'bin', 'python'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    // ...and one whose python works runs as that base interpreter: a sync would install into,
    // and remove packages from, its site-packages. A disposable copy of a Python plays it here.
    const base = await disposablePython(c);
    const other = await c.workspace('seed', 'base-python');
    await fs.mkdir(path.join(other, '.venv', 'bin'), { recursive: true });
    await fs.symlink(base.python, path.join(other, '.venv', 'bin', 'python'));
    const baseBefore = await snapshotTree(base.prefix, []);
    for (const workspace of [other, dir]) {
      const before = await snapshotTree(path.join(workspace, '.venv'), []);
      for (const inputs of [{ mode: 'cpu', cache: 'false' }, { mode: 'cpu' }]) {
        const result = await c.run(workspace, inputs, { cache: server });
        // Checked first: what a sync would have done to the base interpreter.
        assert.deepEqual(await snapshotTree(base.prefix, []), baseBefore, 'the base interpreter is untouched');
        assert.match(oneError(result), /\.venv exists but is not a virtualenv \(no pyvenv\.cfg\)/);
        assert.deepEqual(await snapshotTree(path.join(workspace, '.venv'), []), before, 'the folder is untouched');
      }
    }
    assert.deepEqual(server.entries(), []);
  });

  /** A venv made elsewhere, saved under a restore key of this runner: must be detected and discarded. */
  async function staleVenvCase(c, makeVenv, problem, foreignHome) {
    const server = await c.server();
    const dir = await c.workspace();
    const build = await fs.mkdtemp(path.join(stage.scratch, 'stale-venv-'));
    c.cleanups.push(() => fs.rm(build, { recursive: true, force: true }));
    await makeVenv(path.join(build, '.venv'));
    await fs.writeFile(path.join(build, '.venv', 'FROM-ANOTHER-INTERPRETER'), 'must not survive\n');
    const file = path.join(build, 'stale.tzst');
    archive(file, [[build, '.venv']]);
    const key = `${await restorePrefix(dir)}00000000-stale`;
    await server.addEntry({ key, version: cacheVersion(['.venv']), file });

    const result = await c.run(dir, { mode: 'cpu' }, { cache: server });
    assertVerified(result);
    assert.match(result.log, /Cache hit for restore-key: .*00000000-stale/);
    const warned = warnings(result).find((w) => /virtualenv restored from the cache cannot be used/.test(w.message));
    assert.ok(warned, JSON.stringify(result.annotations));
    assert.match(warned.message, problem);
    assert.match(result.summary, /Restored venv \| discarded: /);
    await assert.rejects(fs.access(path.join(dir, '.venv', 'FROM-ANOTHER-INTERPRETER')), 'the stale venv was deleted');
    coldSync(result);
    const cfg = await fs.readFile(path.join(dir, '.venv', 'pyvenv.cfg'), 'utf8');
    assert.ok(!cfg.includes(foreignHome), 'the new venv is built from this runner’s interpreter');
    assert.ok(
      server.entries().some((entry) => entry.key === result.outputs['cache-key'] && entry.key !== key),
      'the new venv was saved under the primary key',
    );
  }

  faultCase('restored venv whose base interpreter moved away: detected, deleted, cold sync, saved under the right key', (c) =>
    staleVenvCase(
      c,
      async (venv) => {
        // What setup-python's upgrade leaves in an old venv: home and bin/python point at a path that is gone.
        sh('python3 -m venv --without-pip "$1"', [venv]);
        const gone = '/opt/hostedtoolcache/Python/3.11.1/x64/bin';
        const cfg = await fs.readFile(path.join(venv, 'pyvenv.cfg'), 'utf8');
        await fs.writeFile(path.join(venv, 'pyvenv.cfg'), cfg.replace(/^home = .*$/m, `home = ${gone}`));
        for (const name of await fs.readdir(path.join(venv, 'bin'))) {
          if (/^python/.test(name)) {
            await fs.rm(path.join(venv, 'bin', name));
            await fs.symlink(path.join(gone, 'python3.11'), path.join(venv, 'bin', name));
          }
        }
      },
      /missing or points to an interpreter that no longer exists/,
      '/opt/hostedtoolcache/Python/3.11.1',
    ),
  );

  const other = otherPython();
  faultCase(
    'restored venv built by another Python version: detected, deleted, cold sync, saved under the right key',
    (c) =>
      staleVenvCase(
        c,
        async (venv) => {
          sh('"$1" -m venv --without-pip "$2"', [other, venv]);
        },
        /it was built with Python 3\.1\d\.\d+, this runner has/,
        other && path.dirname(other),
      ),
    { skip: !other && 'no second Python 3.11-3.13 interpreter on this machine' },
  );
});
