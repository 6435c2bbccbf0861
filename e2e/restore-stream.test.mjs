// The streamed restore (src/restore-stream.ts) held to @actions/cache itself: an entry saved by
// the real library is restored once by the library (SETUP_POETRY_TORCH_STREAM_RESTORE=false)
// and once streamed, through the bundle's cache worker, against the cache-service stand-in.
// Both must send the same lookup, pick the same entry and leave the same tree; the streamed one
// must leave no archive in RUNNER_TEMP and must resume a download that breaks off.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startCacheServer } from './harness/cache-server.mjs';
import { REPO_ROOT } from './harness/stage.mjs';

const NODE = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
const ENTRY = path.join(REPO_ROOT, 'dist', 'index.js');
const KEY = 'stream-test-linux-py3.11-cpu-aaaa-bbbb';
const PREFIX = 'stream-test-linux-py3.11-cpu-';

let server;
let scratch;
let workspace;
let venv;
let runnerTemp;
let original;

/** One call of the bundle's cache worker, as the action makes it (async: the stand-in runs in this process). */
function worker(request, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [ENTRY], {
      cwd: workspace,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...server.env,
        GITHUB_WORKSPACE: workspace,
        RUNNER_TEMP: runnerTemp,
        SETUP_POETRY_TORCH_CACHE_WORKER: JSON.stringify(request),
        SETUP_POETRY_TORCH_DOWNLOAD_IDLE_MS: '5000',
        ...env,
      },
    });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (log += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (log += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      const line = log.split('\n').find((l) => l.startsWith('SETUP_POETRY_TORCH_CACHE_RESULT '));
      if (!line) return reject(new Error(`no result line:\n${log}`));
      resolve({ result: JSON.parse(line.slice('SETUP_POETRY_TORCH_CACHE_RESULT '.length)), log });
    });
  });
}

const restore = (env = {}, keys = { primary: KEY, restorePrefix: PREFIX }) => worker({ op: 'restore', venv, keys }, env);
const LIBRARY = { SETUP_POETRY_TORCH_STREAM_RESTORE: 'false' };

/** Type, mode, mtime, size and content hash (or link target) of every entry under dir. */
async function tree(dir) {
  const out = {};
  async function walk(current) {
    for (const entry of (await fs.readdir(current, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(current, entry.name);
      const stat = await fs.lstat(full);
      const id = path.relative(dir, full);
      if (entry.isSymbolicLink()) out[id] = `link ${await fs.readlink(full)}`;
      else if (entry.isDirectory()) {
        out[id] = `dir ${(stat.mode & 0o7777).toString(8)}`;
        await walk(full);
      } else {
        const hash = createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex');
        out[id] = `file ${(stat.mode & 0o7777).toString(8)} ${Math.floor(stat.mtimeMs / 1000)} ${stat.size} ${hash}`;
      }
    }
  }
  await walk(dir);
  return out;
}

async function moveAway() {
  await fs.rename(venv, path.join(scratch, `old-${Date.now()}-${Math.random()}`));
}

const lookups = (from) => server.requests.slice(from).filter((r) => r.twirpMethod === 'GetCacheEntryDownloadURL');
const gets = (from) => server.requests.slice(from).filter((r) => r.blobOp === 'get');

before(async () => {
  server = await startCacheServer();
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spt-stream-'));
  workspace = path.join(scratch, 'ws');
  venv = path.join(workspace, '.venv');
  runnerTemp = path.join(scratch, 'runner-temp');
  await fs.mkdir(runnerTemp);
  // A venv-shaped tree: nested packages, an executable, a symlink, 12 MiB that does not compress.
  const site = path.join(venv, 'lib', 'python3.11', 'site-packages', 'pkg');
  await fs.mkdir(site, { recursive: true });
  await fs.mkdir(path.join(venv, 'bin'));
  await fs.writeFile(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
  await fs.writeFile(path.join(venv, 'bin', 'python3.11'), '#!/bin/sh\n', { mode: 0o755 });
  await fs.symlink('python3.11', path.join(venv, 'bin', 'python'));
  await fs.writeFile(path.join(site, 'big.bin'), randomBytes(12 << 20));
  for (let i = 0; i < 50; i++) await fs.writeFile(path.join(site, `m${i}.py`), `VALUE = ${i}\n`.repeat(i + 1));
  original = await tree(venv);
  const saved = await worker({ op: 'save', venv, key: KEY });
  assert.ok(saved.result.cacheId > 0, `the library saved the entry: ${saved.log}`);
});

after(async () => {
  await server?.close();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

test('streamed and library restores send the same lookup and leave the same tree', async () => {
  await moveAway();
  let from = server.requests.length;
  const library = await restore(LIBRARY);
  assert.equal(library.result.matchedKey, KEY);
  assert.match(library.log, /Cache hit for: /);
  const libraryLookup = lookups(from);
  assert.deepEqual(await tree(venv), original, 'the library restored the tree');

  await moveAway();
  from = server.requests.length;
  // Its own RUNNER_TEMP: the library leaves its (emptied) temporary folder behind in the other.
  const temp = await fs.mkdtemp(path.join(scratch, 'temp-'));
  const streamed = await restore({ RUNNER_TEMP: temp });
  assert.equal(streamed.result.matchedKey, KEY);
  assert.match(streamed.log, /Streaming the archive into tar/);
  assert.doesNotMatch(streamed.log, /::warning::/);
  const streamedLookup = lookups(from);
  assert.equal(streamedLookup.length, 1);
  assert.deepEqual(streamedLookup[0].body, libraryLookup[0].body, 'same key, restore keys and version as the library');
  assert.equal(streamedLookup[0].contentType, libraryLookup[0].contentType);
  assert.equal(gets(from).length, 1, 'one plain GET of the blob');
  assert.deepEqual(await tree(venv), original);
  assert.deepEqual(await fs.readdir(temp), [], 'no temporary archive');
});

test('a restore key and a miss come out as they do with the library', async () => {
  const partial = { primary: `${PREFIX}cccc-dddd`, restorePrefix: PREFIX };
  await moveAway();
  assert.equal((await restore(LIBRARY, partial)).result.matchedKey, KEY);
  await moveAway();
  const streamed = await restore({}, partial);
  assert.equal(streamed.result.matchedKey, KEY);
  assert.match(streamed.log, /Cache hit for restore-key: /);
  assert.deepEqual(await tree(venv), original);

  const none = { primary: 'other-prefix-key', restorePrefix: 'other-prefix-' };
  await moveAway();
  assert.equal((await restore(LIBRARY, none)).result.matchedKey, undefined);
  const missed = await restore({}, none);
  assert.equal(missed.result.matchedKey, undefined);
  assert.doesNotMatch(missed.log, /::warning::/, 'a miss is not trouble');
  await assert.rejects(fs.access(venv), 'nothing extracted on a miss');
});

test('a download that breaks off is resumed with a Range request', async () => {
  await fs.rm(venv, { recursive: true, force: true }).catch(() => {});
  const from = server.requests.length;
  server.faults.truncateDownload = 1; // the first GET delivers half the blob, then drops
  const streamed = await restore();
  assert.equal(streamed.result.matchedKey, KEY, streamed.log);
  assert.match(streamed.log, /Archive download interrupted at \d+ bytes .*resuming/);
  const blobGets = gets(from);
  assert.equal(blobGets.length, 2);
  assert.equal(blobGets[0].range, undefined);
  assert.match(blobGets[1].range ?? '', /^bytes=[1-9]\d*-$/, 'the second GET asks for the rest only');
  assert.deepEqual(await tree(venv), original);
});

test('a download that stalls is dropped after the idle timeout and started again', async () => {
  await moveAway();
  const from = server.requests.length;
  server.faults.stallDownload = 1;
  const started = Date.now();
  const streamed = await restore({ SETUP_POETRY_TORCH_DOWNLOAD_IDLE_MS: '2000' });
  assert.equal(streamed.result.matchedKey, KEY, streamed.log);
  assert.match(streamed.log, /Archive download interrupted at 0 bytes .*resuming/);
  assert.equal(gets(from).length, 2);
  assert.ok(Date.now() - started >= 2000, 'waited for the idle timeout');
  assert.match(streamed.log, /^::add-mask::\S+$/m, "the blob URL's signature is masked");
  assert.doesNotMatch(streamed.log, /sig=/, 'no error quotes the signed URL');
  assert.deepEqual(await tree(venv), original);
});

test('a download that keeps breaking off gives up: a warning, no key', async () => {
  await moveAway();
  const from = server.requests.length;
  server.faults.truncateDownload = 100;
  const streamed = await restore();
  server.faults.truncateDownload = 0;
  assert.equal(streamed.result.matchedKey, undefined);
  assert.match(streamed.log, /::warning::Failed to restore: /);
  assert.equal(gets(from).length, 5, 'five attempts');
});
