import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { restoreVenv, type RestoreContext } from '../../src/cache/restore.js';
import { writeVenvKey } from '../../src/cache/snapshot.js';
import { findExact, publishEntry, type Store } from '../../src/cache/store.js';
import { runWorker, saveRequest } from '../../src/cache/worker.js';
import { discardVenv } from '../../src/venv.js';
import { inProcessWorker } from '../fixtures/in-process-worker.js';
import { startCacheServer, type CacheServer as Server } from '../fixtures/cache-server.js';

const PREFIX = 'setup-poetry-torch-v1-linux-ubuntu24.04-x64-py3.11.7-abcdef01-cpu-';
const keys = { primary: `${PREFIX}sel-lock`, restorePrefix: PREFIX };
const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'restore-'));
  dirs.push(dir);
  return dir;
}

let server: Server;
const savedEnv = { ...process.env };
beforeAll(async () => {
  server = await startCacheServer();
  Object.assign(process.env, server.env);
});
afterAll(async () => {
  process.env = savedEnv;
  await server.close();
  dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
});
beforeEach(async () => server.deleteEntries());

function makeVenv(venv: string, label: string): string {
  fs.mkdirSync(venv, { recursive: true });
  fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
  fs.writeFileSync(path.join(venv, 'label'), label);
  return venv;
}

interface Job {
  ctx: RestoreContext;
  store: Store;
  warnings: string[];
}

function job(options: { store?: boolean; cache?: boolean } = {}): Job {
  const workspace = tempDir();
  const store: Store = { root: path.join(tempDir(), 'store'), readScopes: ['o/main'], writeScope: 'o/main', maxBytes: 1 << 30 };
  const warnings: string[] = [];
  const ctx: RestoreContext = {
    venv: path.join(workspace, '.venv'),
    workspace,
    keys,
    store: options.store === false ? undefined : store,
    cacheOff: options.cache === false ? 'cache: false' : undefined,
    cacheTimeoutMs: 60_000,
    venvProblem: async (venv) => (fs.existsSync(path.join(venv, 'pyvenv.cfg')) ? undefined : 'it has no pyvenv.cfg'),
    discard: discardVenv,
    info: () => {},
    warning: (text) => warnings.push(text),
    worker: { run: inProcessWorker, entry: fileURLToPath(import.meta.url), log: () => {} },
  };
  return { ctx, store, warnings };
}

const label = (ctx: RestoreContext): string => fs.readFileSync(path.join(ctx.venv, 'label'), 'utf8');

async function inCache(ctx: RestoreContext, key: string, text: string): Promise<void> {
  const source = tempDir();
  makeVenv(path.join(source, '.venv'), text);
  const result = await runWorker(saveRequest('.venv', key), { workspace: source, timeoutMs: 60_000, ...ctx.worker });
  expect(result.cacheId).toEqual(expect.any(Number));
}

function inStore(j: Job, key: string, text: string): void {
  expect(publishEntry(j.store, makeVenv(path.join(tempDir(), 'v'), text), key, j.ctx.venv).published).toBe(true);
}

/** Blob GETs: archive downloads (the twirp calls are POSTs). */
const downloads = (): number => server.requests.filter((r) => r.method === 'GET' && !r.path.startsWith('/twirp/')).length;

describe('restore order: store exact, cache exact, store partial, cache partial, cold', () => {
  it('store exact before cache exact, and nothing downloaded', async () => {
    const j = job();
    inStore(j, keys.primary, 'store exact');
    await inCache(j.ctx, keys.primary, 'cache exact');
    const before = downloads();
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from: 'store', matchedKey: keys.primary });
    expect(label(j.ctx)).toBe('store exact');
    expect(downloads()).toBe(before);
  });

  it('cache exact before store partial', async () => {
    const j = job();
    inStore(j, `${PREFIX}older`, 'store partial');
    await inCache(j.ctx, keys.primary, 'cache exact');
    const before = downloads();
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from: 'cache' });
    expect(label(j.ctx)).toBe('cache exact');
    expect(downloads()).toBeGreaterThan(before);
  });

  it('store partial before cache partial', async () => {
    const j = job();
    inStore(j, `${PREFIX}older`, 'store partial');
    await inCache(j.ctx, `${PREFIX}other`, 'cache partial');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'partial', from: 'store', matchedKey: `${PREFIX}older` });
  });

  it('cache partial when the store has nothing', async () => {
    const j = job();
    await inCache(j.ctx, `${PREFIX}other`, 'cache partial');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'partial', from: 'cache', matchedKey: `${PREFIX}other` });
    expect(label(j.ctx)).toBe('cache partial');
  });

  it('a miss everywhere: cold', async () => {
    const j = job();
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'miss' });
    expect(fs.existsSync(j.ctx.venv)).toBe(false);
  });

  it('without a store: one request for the exact key and the prefix', async () => {
    const j = job({ store: false });
    await inCache(j.ctx, `${PREFIX}other`, 'cache partial');
    const lookups = (): number => server.requests.filter((r) => r.path.endsWith('GetCacheEntryDownloadURL')).length;
    const before = lookups();
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'partial', from: 'cache' });
    expect(lookups() - before).toBe(1);
  });

  it('skips a store entry changed since it was published and takes the cache instead', async () => {
    const j = job();
    inStore(j, keys.primary, 'store exact');
    const entry = findExact(j.store, keys.primary, j.ctx.venv)!;
    fs.appendFileSync(path.join(entry.dir, 'venv', 'label'), ' tampered');
    await inCache(j.ctx, keys.primary, 'cache exact');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from: 'cache' });
    expect(j.warnings.join('\n')).toMatch(/changed after it was published/);
  });

  it("a service that fails the exact question is not asked for the prefix: the library's failure, not a miss", async () => {
    const j = job();
    await inCache(j.ctx, `${PREFIX}other`, 'cache partial');
    const lookups = (): number => server.requests.filter((r) => r.path.endsWith('GetCacheEntryDownloadURL')).length;
    const before = lookups();
    // 400 is not retried: one refused question, reported by @actions/cache as "Failed to restore".
    server.faults.status = { code: 400, methods: ['GetCacheEntryDownloadURL'] };
    try {
      const outcome = await restoreVenv(j.ctx);
      expect(outcome).toMatchObject({ kind: 'failed', reported: true });
      expect(outcome.kind === 'failed' && outcome.reason).toMatch(/^Failed to restore: .*400/);
    } finally {
      server.faults.status = null;
    }
    expect(lookups() - before).toBe(1);
    expect(fs.existsSync(j.ctx.venv)).toBe(false);
    expect(j.warnings).toEqual([]); // the library's own warning says it; no second one
  });

  it('a failure the library could not report (the worker gone) is warned once, with the cold sync it leads to', async () => {
    const j = job({ store: false });
    j.ctx.worker = { ...j.ctx.worker, entry: '/nonexistent/cache-worker.js', run: undefined };
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'failed' });
    expect(j.warnings).toEqual([expect.stringMatching(/^Cache restore failed, continuing with a cold sync: the cache worker .* is missing/)]);
  });

  it('skipped with neither a store nor a cache', async () => {
    expect(await restoreVenv(job({ store: false, cache: false }).ctx)).toEqual({ kind: 'skipped', reason: 'cache: false' });
  });
});

describe('an existing venv', () => {
  it('that carries the primary key is an exact local hit: nothing asked of the cache', async () => {
    const j = job();
    makeVenv(j.ctx.venv, 'mine');
    writeVenvKey(j.ctx.venv, keys.primary);
    const requests = server.requests.length;
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from: 'local', matchedKey: keys.primary });
    expect(server.requests.length).toBe(requests);
    expect(label(j.ctx)).toBe('mine');
  });

  it.each([['store' as const], ['cache' as const]])('is replaced by an exact hit from the %s', async (from) => {
    const j = job();
    makeVenv(j.ctx.venv, 'mine');
    writeVenvKey(j.ctx.venv, `${PREFIX}old-lock`);
    if (from === 'store') inStore(j, keys.primary, 'exact');
    else await inCache(j.ctx, keys.primary, 'exact');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from });
    expect(label(j.ctx)).toBe('exact');
    expect(fs.readdirSync(path.dirname(j.ctx.venv))).toEqual(['.venv']); // the previous one is gone
  });

  it('is kept and synced in place when there is no exact hit, even with a partial one around', async () => {
    const j = job();
    makeVenv(j.ctx.venv, 'mine');
    inStore(j, `${PREFIX}older`, 'store partial');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'existing', reason: `${j.ctx.venv} already existed` });
    expect(label(j.ctx)).toBe('mine');
  });

  it('that does not work is replaced like a missing one', async () => {
    const j = job();
    fs.mkdirSync(j.ctx.venv);
    fs.writeFileSync(path.join(j.ctx.venv, 'pyvenv.cfg'), '');
    j.ctx.venvProblem = async (venv) => (fs.existsSync(path.join(venv, 'label')) ? undefined : 'its python does not run');
    inStore(j, keys.primary, 'store exact');
    expect(await restoreVenv(j.ctx)).toMatchObject({ kind: 'exact', from: 'store' });
  });
});
