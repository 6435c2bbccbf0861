// Faults and bad input, end to end (issue 4): every case runs the bundled action through the
// runner simulator against a REAL fault of a real protocol (the cache service stand-in's and
// the package index's fault switches, real env vars, real files, a real tmpfs, a real mount
// namespace) and checks that the step keeps working, caches nothing bad and loses nothing.
//
// Every run goes through Case.run, which also keeps the ledger printed at the end: a case
// "loses" something when a file outside the managed .venv changed, or when a run that failed
// left a cache entry for its venv behind.
//
// FAULTS_ACTION_ENTRY=/path/to/index.js runs the cases against another bundle (used to prove
// that each case fails when the guard it covers is taken out of src/); FAULTS_LOG_DIR=dir
// keeps every step's log, annotations and summary there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cacheVersion, startCacheServer } from './harness/cache-server.mjs';
import { VARIANTS, dropTable } from './harness/project.mjs';
import { REPO_ROOT, snapshotTree, startStage } from './harness/stage.mjs';

const ENTRY = process.env.FAULTS_ACTION_ENTRY ? path.resolve(process.env.FAULTS_ACTION_ENTRY) : undefined;
const NODE = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
const STEP_TIMEOUT_MS = 240_000;

let stage;
const ledger = { cases: 0, passed: 0, lost: 0 };

before(async () => {
  stage = await startStage();
  // Also locks the seed once: concurrent first locks of one pyproject would race in project.mjs.
  await restorePrefix();
});
after(async () => {
  await stage?.close();
  console.log(`faults: ${ledger.cases} cases, ${ledger.passed} passed, ${ledger.lost} lost`);
});

const errors = (result) => result.annotations.filter((a) => a.level === 'error');
const warnings = (result) => result.annotations.filter((a) => a.level === 'warning');
const notices = (result) => result.annotations.filter((a) => a.level === 'notice');
const twirp = (server, method, from = 0) => server.requests.slice(from).filter((r) => r.twirpMethod === method);
const exists = (file) =>
  fs.lstat(file).then(
    () => true,
    () => false,
  );
const slug = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40)
    .replace(/^-|-$/g, '');
const NO_STACK = /\n\s+at .*\.js:\d+/;

/** Files a user keeps next to the project: none of them may change whatever the step does. */
async function addUserFiles(dir) {
  await fs.mkdir(path.join(dir, 'src', 'app'), { recursive: true });
  await fs.writeFile(path.join(dir, 'src', 'app', '__init__.py'), 'VERSION = "1.0"\n');
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  await fs.writeFile(path.join(dir, 'data', 'weights.bin'), randomBytes(4096));
  await fs.writeFile(path.join(dir, 'notes — ünïcode.txt'), 'keep me\n');
  await fs.writeFile(path.join(dir, 'venv.txt'), 'not the managed venv\n');
}

/** A port nothing listens on: connecting to it is refused. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function sh(script, args = [], options = {}) {
  const result = spawnSync('bash', ['-c', script, 'bash', ...args], { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`bash -c ${script} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** The zstd tar @actions/cache writes and reads: members relative to the workspace (`.venv/...`). */
function archive(out, parts, limitBytes) {
  // parts: [[dir, member, ...], ...]; limitBytes cuts the tar stream short (a half-written archive).
  const tarArgs = parts.flatMap(([dir, ...members]) => ['-C', dir, ...members]);
  // With a limit, tar dies of SIGPIPE once head has enough: only zstd's status counts then.
  const pipe = limitBytes ? `tar --posix -cf - "\${@:2}" | head -c ${limitBytes}` : `set -o pipefail; tar --posix -cf - "\${@:2}"`;
  sh(`${pipe} | zstd -q -1 -T0 -o "$1"`, [out, ...tarArgs]);
  if (!existsSync(out)) throw new Error(`no archive written to ${out}`);
}

/** One case: its workspaces, its own cache servers, and the ledger checks of every run in it. */
class Case {
  constructor(name) {
    this.name = name;
    this.lost = [];
    this.cleanups = [];
    this.runs = 0;
  }

  async workspace(variant = 'seed', tag = 'ws') {
    const dir = await stage.workspace(variant, `${slug(this.name)}-${tag}-${randomBytes(3).toString('hex')}`);
    await addUserFiles(dir);
    this.cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /** A cache service of the case's own, for faults that must not reach cases running beside it. */
  async server() {
    const server = await startCacheServer();
    this.cleanups.push(() => server.close());
    return server;
  }

  /**
   * Runs the action in `workspace`. cache: the cache server to use (null: none); files: the
   * folder holding the user's files (differs from workspace only under a bind mount).
   */
  async run(workspace, inputs, { cache = null, env = {}, files = workspace, ...options } = {}) {
    const venv = path.join(workspace, '.venv');
    const version = cacheVersion([venv]);
    const before = await snapshotTree(files);
    const started = cache ? cache.entries().length : 0;
    const result = await stage.run(workspace, inputs, {
      env: { ...(cache?.env ?? {}), ...env },
      useCache: false,
      entry: ENTRY,
      timeoutMs: STEP_TIMEOUT_MS,
      ...options,
    });
    if (process.env.FAULTS_LOG_DIR) {
      const file = path.join(process.env.FAULTS_LOG_DIR, `${slug(this.name)}-${++this.runs}.log`);
      await fs.mkdir(process.env.FAULTS_LOG_DIR, { recursive: true });
      await fs.writeFile(
        file,
        `${result.log}\n--- stderr\n${result.stderr}\n--- annotations\n${JSON.stringify(result.annotations, null, 2)}\n--- summary\n${result.summary}`,
      );
    }
    const afterwards = await snapshotTree(files);
    try {
      assert.deepEqual(afterwards, before);
    } catch {
      this.lost.push(`files outside .venv changed in ${files}: ${JSON.stringify({ before, afterwards })}`);
    }
    const added = cache
      ? cache
          .entries()
          .slice(started)
          .filter((entry) => entry.version === version)
      : [];
    if (result.exitCode !== 0 && added.length > 0) this.lost.push(`a failed run saved ${added.map((entry) => entry.key).join(', ')}`);
    return result;
  }
}

/** A test that counts in the closing ledger and fails when its runs lost anything. */
function faultCase(name, body, { skip } = {}) {
  test(name, { skip, timeout: 2 * STEP_TIMEOUT_MS }, async (t) => {
    ledger.cases += 1;
    const c = new Case(name);
    try {
      await body(c, t);
    } finally {
      if (c.lost.length) ledger.lost += 1;
      for (const cleanup of c.cleanups.reverse()) await cleanup().catch(() => {});
    }
    assert.deepEqual(c.lost, [], 'nothing lost');
    ledger.passed += 1;
  });
}

/** A successful cpu step: verified torch, no error annotations, no stack traces. */
function assertVerified(result) {
  assert.equal(result.exitCode, 0, result.log);
  assert.deepEqual(errors(result), []);
  assert.equal(result.outputs['torch-version'], '2.13.0+cpu');
  assert.match(result.summary, /✅ verified/);
}

/** A failed step: exactly one error annotation, one line, no stack trace; returns its message. */
function oneError(result) {
  assert.equal(result.exitCode, 1, result.log);
  const found = errors(result);
  assert.equal(found.length, 1, JSON.stringify(result.annotations));
  assert.doesNotMatch(found[0].message, /\n/);
  assert.doesNotMatch(result.log, NO_STACK, 'no stack trace');
  return found[0].message;
}

const coldSync = (result) => assert.match(result.log, /Installing torch \(2\.13\.0\+cpu\)/, 'a cold sync installed torch');

/**
 * The seeding job: a cold run at the "home" path that saves the first entry to the shared
 * cache server. Started by whichever case needs it first. Right after it, while its venv is
 * whole, it also cuts the half archive of the corrupt-archive case: a zstd tar that stops
 * inside torch, with a marker, pyvenv.cfg, bin/ and torch's dist-info first, i.e. the half
 * venv Poetry would take for a complete one if it were left behind.
 */
let seedPromise;
function seedJob() {
  seedPromise ??= (async () => {
    const home = await stage.workspace('seed', 'home');
    await addUserFiles(home);
    const seeded = await stage.run(home, { mode: 'cpu' }, { entry: ENTRY, timeoutMs: STEP_TIMEOUT_MS });
    assertVerified(seeded);
    const entry = stage.cache.entries().find((found) => found.key === seeded.outputs['cache-key']);
    assert.ok(entry, seeded.log);

    const site = path.relative(home, path.dirname(path.dirname(seeded.log.match(/"torch_file": "([^"]+)"/)[1])));
    const dir = await fs.mkdtemp(path.join(stage.scratch, 'broken-archive-'));
    await fs.mkdir(path.join(dir, '.venv'));
    await fs.writeFile(path.join(dir, '.venv', 'FROM-THE-BROKEN-ARCHIVE'), 'must not survive\n');
    const distInfo = (await fs.readdir(path.join(home, site))).find((name) => /^torch-.*\.dist-info$/.test(name));
    const brokenArchive = path.join(dir, 'broken.tzst');
    archive(
      brokenArchive,
      [
        [dir, '.venv/FROM-THE-BROKEN-ARCHIVE'],
        [home, '.venv/pyvenv.cfg', '.venv/bin', `${site}/${distInfo}`, `${site}/torch`],
      ],
      64 << 20,
    );
    return { home, seeded, entry, brokenArchive };
  })();
  return seedPromise;
}

/** The cache key prefix every cpu run on this runner shares (the primary key minus selection and lock). */
let prefixPromise;
function restorePrefix() {
  prefixPromise ??= (async () => {
    // A sync that Poetry rejects at once still reports the key it would have used.
    const dir = await stage.workspace('seed', 'learn-key');
    const result = await stage.run(dir, { mode: 'cpu', 'sync-args': '--no-such-option' }, { useCache: false, entry: ENTRY });
    const key = result.outputs['cache-key'];
    assert.match(key ?? '', /-cpu-/, result.log);
    await fs.rm(dir, { recursive: true, force: true });
    return key.slice(0, key.indexOf('-cpu-') + '-cpu-'.length);
  })();
  return prefixPromise;
}

/** An interpreter of another minor version that the seed project (>=3.11,<3.14) would accept. */
function otherPython() {
  const own = spawnSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).stdout.trim();
  const roots = [path.join(process.env.PYENV_ROOT || path.join(os.homedir(), '.pyenv'), 'versions'), null];
  for (const minor of ['3.12', '3.13', '3.11']) {
    if (minor === own) continue;
    for (const root of roots) {
      const candidates = root
        ? (existsSync(root) ? readdirSync(root) : []).filter((v) => v.startsWith(`${minor}.`)).map((v) => path.join(root, v, 'bin', `python${minor}`))
        : [`/usr/bin/python${minor}`, `/usr/local/bin/python${minor}`];
      const found = candidates.find((file) => existsSync(file));
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * A copy of this machine's Python (binary and standard library, empty site-packages) in the
 * case's scratch: a base interpreter a runaway sync could damage without harm. Refuses to
 * return one whose sys.prefix is not the copy.
 */
async function disposablePython(c) {
  const [basePrefix, minor] = spawnSync('python3', ['-c', 'import sys; print(sys.base_prefix); print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n');
  const prefix = await fs.mkdtemp(path.join(stage.scratch, 'base-python-'));
  c.cleanups.push(() => fs.rm(prefix, { recursive: true, force: true }));
  const lib = path.join('lib', `python${minor}`);
  await fs.mkdir(path.join(prefix, 'bin'));
  await fs.mkdir(path.join(prefix, lib), { recursive: true });
  await fs.copyFile(path.join(basePrefix, 'bin', `python${minor}`), path.join(prefix, 'bin', `python${minor}`));
  await fs.chmod(path.join(prefix, 'bin', `python${minor}`), 0o755);
  sh('tar -C "$1" --exclude=./site-packages --exclude=./dist-packages --exclude=./test --exclude=__pycache__ -cf - . | tar -C "$2" -xf -', [
    path.join(basePrefix, lib),
    path.join(prefix, lib),
  ]);
  await fs.mkdir(path.join(prefix, lib, 'site-packages'));
  const python = path.join(prefix, 'bin', `python${minor}`);
  const seen = spawnSync(python, ['-c', 'import sys; print(sys.prefix)'], { encoding: 'utf8' }).stdout.trim();
  if (seen !== prefix) throw new Error(`the copy of Python at ${prefix} thinks its prefix is ${JSON.stringify(seen)}: not safe to use`);
  return { prefix, python };
}

const canMount = () => process.platform === 'linux' && spawnSync('unshare', ['-m', 'true']).status === 0;

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
      faultCase(`no ${variable}: the cache is skipped with one notice; sync and verify still run`, async (c) => {
        // The seeding job's .venv is still there, as on a persistent self-hosted runner.
        const from = stage.cache.requests.length;
        const result = await c.run(home, { mode: 'cpu' }, { cache: stage.cache, env: { [variable]: undefined } });
        assertVerified(result);
        assert.equal(notices(result).length, 1, JSON.stringify(result.annotations));
        assert.match(notices(result)[0].message, reason);
        assert.deepEqual(warnings(result), []);
        assert.match(result.summary, /Sync \| `poetry sync [^|]*` in \d/);
        assert.match(result.log, /::group::Verify torch/);
        assert.equal(stage.cache.requests.length, from, 'no request reached the cache service');
      });
    }

    faultCase('ACTIONS_CACHE_MODE=none: nothing restored, nothing saved, no warning', async (c) => {
      // The seeding job's .venv is still there: sync and verify run, the service is never asked.
      const from = stage.cache.requests.length;
      const result = await c.run(home, { mode: 'cpu' }, { cache: stage.cache, env: { ACTIONS_CACHE_MODE: 'none' } });
      assertVerified(result);
      assert.equal(stage.cache.requests.length, from, 'no request reached the cache service');
      assert.equal(result.outputs['cache-matched-key'], '');
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
    const key = `${await restorePrefix()}ffffffff-broken`;
    await server.addEntry({ key, version: cacheVersion([path.join(dir, '.venv')]), file: (await seedJob()).brokenArchive });
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
    const key = `${await restorePrefix()}eeeeeeee-older`;
    await server.addEntry({ key, version: cacheVersion([path.join(dir, '.venv')]), file: path.join(build, 'venv.tzst') });
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
      // A real 8 MiB filesystem as RUNNER_TEMP, where @actions/cache writes its archive.
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
    const key = `${await restorePrefix()}00000000-stale`;
    await server.addEntry({ key, version: cacheVersion([path.join(dir, '.venv')]), file });

    const result = await c.run(dir, { mode: 'cpu' }, { cache: server });
    assertVerified(result);
    assert.match(result.log, /Cache hit for restore-key: .*00000000-stale/);
    const warned = warnings(result).find((w) => /restored virtualenv cannot be used/.test(w.message));
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
