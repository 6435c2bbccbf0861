// Proves e2e/harness/{cache-server,runner}.mjs against the real @actions/cache: a throwaway
// action saves/restores through the local cache service, run the way the runner runs a step.
// Run: node_modules/.bin/node --test e2e/harness-cache.test.mjs
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cacheVersion, startCacheServer } from './harness/cache-server.mjs';
import { applyExportedEnv, runAction } from './harness/runner.mjs';
import { actionDir, makeWorkspace, nodeBin, snapshot, step, twirp, useThrowawayAction, warnings, withCacheServer } from './harness/throwaway-action.mjs';

useThrowawayAction();

describe('cache server + runner with @actions/cache', { concurrency: true }, () => {
  test('save, exact / prefix / restore-key hits, misses, and step outputs', async () => {
    const server = await startCacheServer();
    const ws = await makeWorkspace();
    try {
      const original = await snapshot(join(ws, 'data'));
      const saved = await step(server, ws, { op: 'save', key: 'harness-Linux-A' });
      assert.equal(saved.exitCode, 0, saved.stdout + saved.stderr);
      assert.equal(saved.outputs.result, '1');
      const [entry] = server.entries();
      assert.equal(server.entries().length, 1);
      assert.equal(entry.key, 'harness-Linux-A');
      assert.equal(entry.version, cacheVersion(['data']), 'zstd is on PATH here, so zstd-without-long');
      assert.ok(entry.sizeBytes > 0);
      assert.deepEqual(
        server.requests.map((r) => r.twirpMethod ?? r.blobOp),
        ['CreateCacheEntry', 'put', 'FinalizeCacheEntryUpload'],
      );
      assert.ok(server.requests.every((r) => r.status >= 200 && r.status < 300));

      // The runner simulator's parsing of everything the step wrote.
      assert.equal(saved.outputs.multi, 'first line\nsecond = line\n<<not a delimiter');
      assert.deepEqual(saved.exportedEnv, { HARNESS_EXPORTED: 'from save' });
      assert.deepEqual(saved.path, ['/opt/harness/save/bin']);
      assert.deepEqual(saved.state, { 'last-op': 'save' });
      assert.match(saved.summary, /<h1>Harness save<\/h1>\nkey=harness-Linux-A\n/);
      assert.deepEqual(saved.groups, ['cache save']);
      assert.deepEqual(saved.annotations, [
        {
          level: 'warning',
          message: 'odd chars: 100% done\nnext line, a:b',
          properties: { file: 'src/a,b.ts', title: 'T: x', line: '3' },
        },
      ]);
      assert.ok(saved.masks.length >= 1, 'the library masks the sig of the signed URL');

      // A later step sees GITHUB_ENV and GITHUB_PATH applied.
      const next = await runAction({
        actionDir,
        workspace: ws,
        nodeBin,
        inputs: { op: 'env' },
        env: applyExportedEnv({ PATH: process.env.PATH }, saved),
      });
      assert.equal(next.outputs.seen, 'from save');
      assert.equal(next.outputs.path0, '/opt/harness/save/bin');

      // Exact hit into a wiped directory.
      await rm(join(ws, 'data'), { recursive: true });
      const exact = await step(server, ws, { op: 'restore', key: 'harness-Linux-A', 'restore-keys': 'harness-' });
      assert.equal(exact.exitCode, 0, exact.stdout);
      assert.equal(exact.outputs.result, 'harness-Linux-A');
      assert.match(exact.stdout, /^Cache hit for: harness-Linux-A$/m);
      assert.deepEqual(await snapshot(join(ws, 'data')), original);
      const get = server.requests.find((r) => r.blobOp === 'get');
      assert.equal(get.status, 200);

      // Restore-key prefix hit (returns the matched key, not the primary key).
      await rm(join(ws, 'data'), { recursive: true });
      const partial = await step(server, ws, { op: 'restore', key: 'harness-Linux-B', 'restore-keys': 'nope-\nharness-Linux-' });
      assert.equal(partial.outputs.result, 'harness-Linux-A');
      assert.match(partial.stdout, /^Cache hit for restore-key: harness-Linux-A$/m);
      assert.deepEqual(await snapshot(join(ws, 'data')), original);

      // The primary key itself is prefix-matched too (GitHub's documented order: exact, key prefix, restore keys).
      const keyPrefix = await step(server, ws, { op: 'restore', key: 'harness-Linux' });
      assert.equal(keyPrefix.outputs.result, 'harness-Linux-A');

      // Misses: unknown keys, and a known key under a different version (other paths).
      await rm(join(ws, 'data'), { recursive: true });
      const miss = await step(server, ws, { op: 'restore', key: 'other-key', 'restore-keys': 'nope-' });
      assert.equal(miss.exitCode, 0);
      assert.equal(miss.outputs.result, '');
      assert.equal(existsSync(join(ws, 'data')), false);
      const otherVersion = await step(server, ws, { op: 'restore', key: 'harness-Linux-A', paths: 'data\nmore' });
      assert.equal(otherVersion.outputs.result, '');
      assert.deepEqual(warnings(miss), []);
      const lookup = twirp(server, 'GetCacheEntryDownloadURL');
      assert.equal(lookup.length, 5);

      // Newest entry wins a prefix match.
      await writeFile(join(ws, 'newer.txt'), 'newer');
      await server.addEntry({ key: 'harness-Linux-0-old', version: cacheVersion(['newer.txt']), data: 'x', createdAt: '2020-01-01T00:00:00Z' });
      const second = await step(server, ws, { op: 'save', key: 'harness-Linux-C', paths: 'newer.txt' });
      assert.equal(second.outputs.result, '3');
      const newest = await step(server, ws, { op: 'restore', key: 'zzz', paths: 'newer.txt', 'restore-keys': 'harness-Linux-' });
      assert.equal(newest.outputs.result, 'harness-Linux-C');
    } finally {
      await server.close();
      await rm(ws, { recursive: true, force: true });
    }
    assert.equal(existsSync(server.storageDir), false, 'close() removes storage it created');
  });

  test('an archive over 128 MiB goes through staged blocks + block list and restores intact', () =>
    withCacheServer(async (server, ws) => {
      // Random bytes so zstd cannot shrink the archive under the 128 MiB single-shot limit.
      const big = Buffer.allocUnsafe(136 * 1024 * 1024);
      randomFillSync(big);
      await mkdir(join(ws, 'data'));
      await writeFile(join(ws, 'data', 'big.bin'), big);
      const digest = createHash('sha256').update(big).digest('hex');
      const saved = await step(server, ws, { op: 'save', key: 'big' });
      assert.equal(saved.exitCode, 0, saved.stdout + saved.stderr);
      assert.equal(saved.outputs.result, '1');
      const ops = server.requests.filter((r) => r.blobOp).map((r) => r.blobOp);
      assert.deepEqual(ops, ['block', 'block', 'block', 'blocklist'], '64 MiB blocks, then the list');
      assert.equal(server.requests.find((r) => r.blobOp === 'blocklist').blocks, 3);
      assert.ok(server.entries()[0].sizeBytes > 128 * 1024 * 1024);

      await rm(join(ws, 'data'), { recursive: true });
      const restored = await step(server, ws, { op: 'restore', key: 'big' });
      assert.equal(restored.outputs.result, 'big', restored.stdout);
      const back = await readFile(join(ws, 'data', 'big.bin'));
      assert.equal(createHash('sha256').update(back).digest('hex'), digest);
    }, {}));

  test('fault: 503 on every twirp call', () =>
    withCacheServer(async (server, ws) => {
      // The twirp client retries 502/503/504/500 five times with 3 s, ~4.5-6.75 s,
      // ~6.75-10 s, ~10-15 s waits, so this takes ~25-35 s. restoreCache then
      // warns "Failed to restore: Failed to GetCacheEntryDownloadURL: Failed to make
      // request after 5 attempts: ..." and resolves undefined (exit 0, no throw).
      server.faults.status = { code: 503, count: Infinity };
      const r = await step(server, ws, { op: 'restore', key: 'k' });
      assert.equal(r.exitCode, 0);
      assert.equal(r.outputs.result, '');
      assert.equal(r.outputs['error-name'], undefined);
      assert.equal(twirp(server, 'GetCacheEntryDownloadURL').length, 5);
      assert.ok(twirp(server, 'GetCacheEntryDownloadURL').every((q) => q.status === 503));
      const [w] = warnings(r);
      assert.match(
        w.message,
        /^Failed to restore: Failed to GetCacheEntryDownloadURL: Failed to make request after 5 attempts: Failed request: \(503\) Service Unavailable: injected fault 503$/,
      );
    }));

  test('fault: 503 on CreateCacheEntry', () =>
    withCacheServer(async (server, ws) => {
      // Same 5 retries, then saveCache maps *any* CreateCacheEntry failure to
      // ReserveCacheError, logged with core.info (no annotation), returning -1.
      server.faults.status = { code: 503, count: Infinity, methods: ['CreateCacheEntry'] };
      const r = await step(server, ws, { op: 'save', key: 'k' });
      assert.equal(r.exitCode, 0);
      assert.equal(r.outputs.result, '-1');
      assert.equal(twirp(server, 'CreateCacheEntry').length, 5);
      assert.deepEqual(warnings(r), []);
      assert.match(r.stdout, /^Failed to save: Unable to reserve cache with key k, another job may be creating this cache\.$/m);
      assert.deepEqual(server.entries(), []);
    }));

  test('fault: one 503 then success is retried transparently (3 s)', () =>
    withCacheServer(async (server, ws) => {
      server.faults.status = { code: 503, count: 1, methods: ['CreateCacheEntry'] };
      const r = await step(server, ws, { op: 'save', key: 'k' });
      assert.equal(r.outputs.result, '1');
      assert.deepEqual(
        twirp(server, 'CreateCacheEntry').map((q) => q.status),
        [503, 200],
      );
      assert.match(r.stdout, /Attempt 1 of 5 failed with error: Failed request: \(503\) Service Unavailable: injected fault 503\. Retrying request in 3000 ms/);
      assert.equal(server.faults.status.count, 0);
    }));

  test('fault: 409 on a duplicate CreateCacheEntry', () =>
    withCacheServer(async (server, ws) => {
      // Not retried; saveCache does NOT throw: ReserveCacheError is caught inside,
      // logged with core.info "Failed to save: Unable to reserve cache with key K,
      // another job may be creating this cache." and -1 is returned.
      assert.equal((await step(server, ws, { op: 'save', key: 'dup' })).outputs.result, '1');
      const again = await step(server, ws, { op: 'save', key: 'dup' });
      assert.equal(again.exitCode, 0);
      assert.equal(again.outputs.result, '-1');
      assert.equal(again.outputs['error-name'], undefined);
      assert.deepEqual(
        twirp(server, 'CreateCacheEntry').map((q) => q.status),
        [200, 409],
      );
      assert.deepEqual(warnings(again), []);
      assert.match(again.stdout, /^Failed to save: Unable to reserve cache with key dup, another job may be creating this cache\.$/m);
      // Only the ::debug:: lines carry the service's reason.
      assert.ok(!again.log.includes('already exists'));
      assert.ok(again.debug.some((d) => d.includes('(409) Conflict: cache entry with the same key, version, and scope already exists')));
      assert.equal(server.entries().length, 1);
    }));

  test('fault: truncated and corrupt downloads', () =>
    withCacheServer(async (server, ws) => {
      assert.equal((await step(server, ws, { op: 'save', key: 'k' })).outputs.result, '1');
      await rm(join(ws, 'data'), { recursive: true });

      // Truncated: Content-Length promised, half sent, socket closed. The
      // http-client stream errors ("aborted"); restoreCache catches it, warns
      // "Failed to restore: aborted" and resolves undefined. Not retried.
      server.faults.truncateDownload = true;
      const cut = await step(server, ws, { op: 'restore', key: 'k' });
      server.faults.truncateDownload = false;
      assert.equal(cut.exitCode, 0);
      assert.equal(cut.outputs.result, '');
      assert.match(cut.stdout, /^Cache hit for: k$/m);
      assert.deepEqual(
        warnings(cut).map((w) => w.message),
        ['Failed to restore: aborted'],
      );
      assert.equal(server.requests.filter((r) => r.blobOp === 'get').length, 1);
      assert.equal(existsSync(join(ws, 'data')), false);

      // Corrupt: right length, garbage bytes. Nothing checks a digest, so tar/zstd
      // fail: "Failed to restore: ... Tar failed with error: ..." warning, undefined.
      server.faults.corruptDownload = true;
      const bad = await step(server, ws, { op: 'restore', key: 'k' });
      server.faults.corruptDownload = false;
      assert.equal(bad.exitCode, 0);
      assert.equal(bad.outputs.result, '');
      const [w] = warnings(bad);
      assert.equal(w.message, `Failed to restore: "/usr/bin/tar" failed with error: The process '/usr/bin/tar' failed with exit code 2`);
      assert.equal(existsSync(join(ws, 'data', 'a.txt')), false);

      // The entry itself is fine: a clean restore still works afterwards.
      const ok = await step(server, ws, { op: 'restore', key: 'k' });
      assert.equal(ok.outputs.result, 'k');
      assert.equal(await readFile(join(ws, 'data', 'a.txt'), 'utf8'), 'alpha\n');
    }));

  test('fault: closed socket, slow replies, stalled download', () =>
    withCacheServer(async (server, ws) => {
      // Closed socket: ECONNRESET is a NetworkError, thrown at once (no retry);
      // restore warns and resolves undefined.
      server.faults.closeSocket = true;
      const closed = await step(server, ws, { op: 'restore', key: 'k' });
      server.faults.closeSocket = false;
      assert.equal(closed.exitCode, 0);
      assert.equal(closed.outputs.result, '');
      assert.equal(twirp(server, 'GetCacheEntryDownloadURL').length, 1);
      assert.match(warnings(closed)[0].message, /^Failed to restore: Failed to GetCacheEntryDownloadURL: Unable to make request: ECONNRESET/);

      // Slow twirp replies: the client has no request timeout, it just waits.
      server.faults.delayMs = 1500;
      const slow = await step(server, ws, { op: 'save', key: 'k' });
      server.faults.delayMs = 0;
      assert.equal(slow.outputs.result, '1');
      assert.ok(slow.durationMs >= 3000, `two delayed calls, took ${slow.durationMs} ms`);

      // Headers then silence: the library's 5 s socket timeout destroys the
      // response; the pipeline rejects with "Premature close", a warning. The silence is far
      // longer than the timeout, so a slow machine's start-up cannot blur the two (7 s did).
      server.faults.downloadDelayMs = 30_000;
      await rm(join(ws, 'data'), { recursive: true });
      const stalled = await step(server, ws, { op: 'restore', key: 'k' });
      server.faults.downloadDelayMs = 0;
      assert.equal(stalled.exitCode, 0);
      assert.equal(stalled.outputs.result, '');
      assert.deepEqual(
        warnings(stalled).map((w) => w.message),
        ['Failed to restore: Premature close'],
      );
      assert.ok(stalled.durationMs < 20_000, `gave up at the socket timeout, not after the 30 s silence: took ${stalled.durationMs} ms`);
    }));

  test('fault: quota, blob errors, bad or missing token', () =>
    withCacheServer(async (server, ws) => {
      // Quota: the client turns msg 'insufficient usage' into UsageError (no retry),
      // but saveCache then reports it as the generic ReserveCacheError (info, -1);
      // the quota text only shows in debug output.
      server.faults.quotaExceeded = true;
      const quota = await step(server, ws, { op: 'save', key: 'k' });
      server.faults.quotaExceeded = false;
      assert.equal(quota.outputs.result, '-1');
      assert.deepEqual(
        twirp(server, 'CreateCacheEntry').map((q) => q.status),
        [429],
      );
      assert.match(quota.stdout, /^Failed to save: Unable to reserve cache with key k, another job may be creating this cache\.$/m);
      assert.deepEqual(warnings(quota), []);
      assert.ok(
        quota.debug.includes(
          'Failed to reserve cache: Error: Failed to CreateCacheEntry: Cache storage quota has been hit. Unable to upload any new cache entries.\nMore info on storage limits: https://docs.github.com/en/billing/managing-billing-for-github-actions/about-billing-for-github-actions#calculating-minute-and-storage-spending',
        ),
      );
      // A numeric fault fires that many times, then the service behaves again.
      server.faults.quotaExceeded = 1;
      assert.equal((await step(server, ws, { op: 'save', key: 'k3' })).outputs.result, '-1');
      assert.equal((await step(server, ws, { op: 'save', key: 'k2' })).outputs.result, '1');
      assert.equal(server.faults.quotaExceeded, 0);

      // Blob PUT refused (403, not retried by the Azure SDK): two warnings, -1, nothing committed.
      server.faults.blobStatus = { code: 403, count: 1 };
      const blob = await step(server, ws, { op: 'save', key: 'k4' });
      assert.equal(blob.outputs.result, '-1');
      assert.deepEqual(
        warnings(blob).map((w) => w.message),
        ['uploadCacheArchiveSDK: internal error uploading cache archive: injected fault 403', 'Failed to save: injected fault 403'],
      );
      assert.equal(server.requests.at(-1).status, 403);
      assert.equal(
        server.entries().some((e) => e.key === 'k4'),
        false,
      );

      // Wrong token: 401 is not retried; restore warns, resolves undefined.
      const badToken = await step(server, ws, { op: 'restore', key: 'k2' }, { ACTIONS_RUNTIME_TOKEN: 'wrong' });
      assert.equal(badToken.outputs.result, '');
      assert.match(warnings(badToken)[0].message, /Received non-retryable error: Failed request: \(401\) Unauthorized: invalid or missing bearer token/);

      // No token at all: restore warns, but save THROWS (the client is built outside saveCache's try).
      const noTokenRestore = await step(server, ws, { op: 'restore', key: 'k2' }, { ACTIONS_RUNTIME_TOKEN: null });
      assert.equal(noTokenRestore.exitCode, 0);
      assert.match(warnings(noTokenRestore)[0].message, /Unable to get the ACTIONS_RUNTIME_TOKEN env variable/);
      const noTokenSave = await step(server, ws, { op: 'save', key: 'k5' }, { ACTIONS_RUNTIME_TOKEN: null });
      assert.equal(noTokenSave.exitCode, 1);
      assert.equal(noTokenSave.outputs['error-name'], 'Error');
      assert.deepEqual(
        noTokenSave.annotations.filter((a) => a.level === 'error').map((a) => a.message),
        ['save threw Error: Unable to get the ACTIONS_RUNTIME_TOKEN env variable'],
      );
    }));
});
