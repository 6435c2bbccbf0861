// Shared by the fault suites (e2e/faults-*.test.mjs, issue 4): every case runs the bundled
// action through the runner simulator against a REAL fault of a real protocol and checks that
// the step keeps working, caches nothing bad and loses nothing.
//
// Every run goes through Case.run, which also keeps the ledger each suite prints at the end: a
// case "loses" something when a file outside the managed .venv changed, or when a run that
// failed left a cache entry for its venv behind.
//
// FAULTS_ACTION_ENTRY=/path/to/index.js runs the cases against another bundle (used to prove
// that each case fails when the guard it covers is taken out of src/); FAULTS_LOG_DIR=dir
// keeps every step's log, annotations and summary there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { cacheVersion, startCacheServer } from './cache-server.mjs';
import { REPO_ROOT, snapshotTree, startStage } from './stage.mjs';
export const ENTRY = process.env.FAULTS_ACTION_ENTRY ? path.resolve(process.env.FAULTS_ACTION_ENTRY) : undefined;
export const NODE = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
export const STEP_TIMEOUT_MS = 240_000;

/** The suite's stage (a live binding: set by the `before` hook of useFaultStage). */
export let stage;
const ledger = { cases: 0, passed: 0, lost: 0 };

/**
 * Starts the stage before the suite's cases and prints the ledger after them. learnKey: also
 * learn the cache key prefix up front (the cases that plant cache entries need it).
 */
export function useFaultStage({ learnKey = false } = {}) {
  before(async () => {
    stage = await startStage();
    // Also locks the seed once: concurrent first locks of one pyproject would race in project.mjs.
    if (learnKey) await learnedPrefix();
    else await fs.rm(await stage.workspace('seed', 'first-lock'), { recursive: true, force: true });
  });
  after(async () => {
    await stage?.close();
    console.log(`faults: ${ledger.cases} cases, ${ledger.passed} passed, ${ledger.lost} lost`);
  });
}

export const errors = (result) => result.annotations.filter((a) => a.level === 'error');
export const warnings = (result) => result.annotations.filter((a) => a.level === 'warning');
export const notices = (result) => result.annotations.filter((a) => a.level === 'notice');
export const twirp = (server, method, from = 0) => server.requests.slice(from).filter((r) => r.twirpMethod === method);
export const exists = (file) =>
  fs.lstat(file).then(
    () => true,
    () => false,
  );
export const slug = (text) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 40)
    .replace(/^-|-$/g, '');
export const NO_STACK = /\n\s+at .*\.js:\d+/;

/** Files a user keeps next to the project: none of them may change whatever the step does. */
export async function addUserFiles(dir) {
  await fs.mkdir(path.join(dir, 'src', 'app'), { recursive: true });
  await fs.writeFile(path.join(dir, 'src', 'app', '__init__.py'), 'VERSION = "1.0"\n');
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  await fs.writeFile(path.join(dir, 'data', 'weights.bin'), randomBytes(4096));
  await fs.writeFile(path.join(dir, 'notes — ünïcode.txt'), 'keep me\n');
  await fs.writeFile(path.join(dir, 'venv.txt'), 'not the managed venv\n');
}

/** A port nothing listens on: connecting to it is refused. */
export async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export function sh(script, args = [], options = {}) {
  const result = spawnSync('bash', ['-c', script, 'bash', ...args], { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`bash -c ${script} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

/** The zstd tar @actions/cache writes and reads: members relative to the workspace (`.venv/...`). */
export function archive(out, parts, limitBytes) {
  // parts: [[dir, member, ...], ...]; limitBytes cuts the tar stream short (a half-written archive).
  const tarArgs = parts.flatMap(([dir, ...members]) => ['-C', dir, ...members]);
  // With a limit, tar dies of SIGPIPE once head has enough: only zstd's status counts then.
  const pipe = limitBytes ? `tar --posix -cf - "\${@:2}" | head -c ${limitBytes}` : `set -o pipefail; tar --posix -cf - "\${@:2}"`;
  sh(`${pipe} | zstd -q -1 -T0 -o "$1"`, [out, ...tarArgs]);
  if (!existsSync(out)) throw new Error(`no archive written to ${out}`);
}

/** One case: its workspaces, its own cache servers, and the ledger checks of every run in it. */
export class Case {
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
    // The cache sees the venv by its path relative to the workspace (src/cache/worker.ts).
    const version = cacheVersion([path.relative(workspace, venv)]);
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
export function faultCase(name, body, { skip } = {}) {
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
export function assertVerified(result) {
  assert.equal(result.exitCode, 0, result.log);
  assert.deepEqual(errors(result), []);
  assert.equal(result.outputs['torch-version'], '2.13.0+cpu');
  assert.match(result.summary, /✅ verified/);
}

/** A failed step: exactly one error annotation, one line, no stack trace; returns its message. */
export function oneError(result) {
  assert.equal(result.exitCode, 1, result.log);
  const found = errors(result);
  assert.equal(found.length, 1, JSON.stringify(result.annotations));
  assert.doesNotMatch(found[0].message, /\n/);
  assert.doesNotMatch(result.log, NO_STACK, 'no stack trace');
  return found[0].message;
}

export const coldSync = (result) => assert.match(result.log, /Installing torch \(2\.13\.0\+cpu\)/, 'a cold sync installed torch');

/**
 * The seeding job: a cold run at the "home" path that saves the first entry to the shared
 * cache server. Started by whichever case needs it first. Right after it, while its venv is
 * whole, it also cuts the half archive of the corrupt-archive case: a zstd tar that stops
 * inside torch, with a marker, pyvenv.cfg, bin/ and torch's dist-info first, i.e. the half
 * venv Poetry would take for a complete one if it were left behind.
 */
let seedPromise;
export function seedJob() {
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

/**
 * The cache key prefix every cpu run of the venv at `workspace`/.venv shares (the primary key
 * minus selection and lock): the key names the venv's path (`at` + 8 hex of its sha256).
 */
let prefixPromise;
export async function restorePrefix(workspace) {
  const learned = await learnedPrefix();
  const at = createHash('sha256').update(path.resolve(workspace, '.venv')).digest('hex').slice(0, 8);
  return learned.replace(/-at[0-9a-f]{8}-/, `-at${at}-`);
}

function learnedPrefix() {
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
export function otherPython() {
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
export async function disposablePython(c) {
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

export const canMount = () => process.platform === 'linux' && spawnSync('unshare', ['-m', 'true']).status === 0;
