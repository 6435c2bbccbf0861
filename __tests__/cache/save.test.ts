import { States } from '../../src/constants.js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decideSave, saveSnapshot, type SavePlan } from '../../src/cache/save.js';
import type { RestoreOutcome } from '../../src/cache/restore.js';
import { buildSnapshot, prepareSnapshot } from '../../src/cache/snapshot.js';
import { findExact, type Store } from '../../src/cache/store.js';
import { restoreRequest, runWorker } from '../../src/cache/worker.js';
import { inProcessWorker } from '../fixtures/in-process-worker.js';
import { startCacheServer, type CacheServer as Server } from '../fixtures/cache-server.js';

describe('decideSave', () => {
  const hit = (kind: 'exact' | 'partial', from: 'local' | 'store' | 'cache'): RestoreOutcome => ({ kind, from, matchedKey: 'k', durationMs: 1 });
  const facts = { verified: true, cacheMode: '' };
  it.each<[string, Parameters<typeof decideSave>[0], ReturnType<typeof decideSave>]>([
    ['a cold sync: both', { ...facts, restore: { kind: 'miss', durationMs: 1 } }, { store: true, cache: true }],
    ['a partial hit: both', { ...facts, restore: hit('partial', 'cache') }, { store: true, cache: true }],
    ['an existing venv synced in place: both', { ...facts, restore: { kind: 'existing', reason: 'r', durationMs: 1 } }, { store: true, cache: true }],
    [
      'exact from the cache: the store only',
      { ...facts, restore: hit('exact', 'cache') },
      { store: true, cache: 'exact hit (from the cache), nothing new to save' },
    ],
    [
      'exact from the store: the store again (the hit took the entry out), not the cache',
      { ...facts, restore: hit('exact', 'store') },
      { store: true, cache: 'exact hit (from the store), nothing new to save' },
    ],
    ['exact local: the store only', { ...facts, restore: hit('exact', 'local') }, { store: true, cache: 'exact hit (the existing venv), nothing new to save' }],
    [
      'verification failed: nothing',
      { ...facts, verified: false, restore: hit('partial', 'cache') },
      { store: 'verification failed', cache: 'verification failed' },
    ],
    [
      'store off, cache off',
      { ...facts, restore: { kind: 'skipped', reason: 'cache: false' }, storeOff: 'venv-store: false', cacheOff: 'cache: false' },
      { store: 'venv-store: false', cache: 'cache: false' },
    ],
    [
      'a read-only cache',
      { ...facts, cacheMode: 'read', restore: { kind: 'miss', durationMs: 1 } },
      { store: true, cache: "ACTIONS_CACHE_MODE is 'read': this job may restore but not write the cache" },
    ],
    [
      'after a stalled restore: the store only',
      { ...facts, restore: { kind: 'failed', reason: 'timeout', durationMs: 1, stalled: true } },
      { store: true, cache: 'not tried: the cache service stalled during the restore (timeout)' },
    ],
    ['after a failed, not stalled, restore: both', { ...facts, restore: { kind: 'failed', reason: '500', durationMs: 1 } }, { store: true, cache: true }],
  ])('%s', (_name, input, expected) => expect(decideSave(input)).toEqual(expected));
});

describe('saveSnapshot', () => {
  let server: Server;
  const savedEnv = { ...process.env };
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'save-'));
    dirs.push(dir);
    return dir;
  };
  beforeAll(async () => {
    server = await startCacheServer();
    Object.assign(process.env, server.env);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await server.close();
    dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true }));
  });

  const worker = { run: inProcessWorker, entry: fileURLToPath(import.meta.url), log: () => {} };
  function plan(key: string): { plan: SavePlan; venv: string; logs: string[]; warnings: string[] } {
    const workspace = tempDir();
    const venv = path.join(workspace, '.venv');
    fs.mkdirSync(venv);
    fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
    fs.writeFileSync(path.join(venv, 'label'), 'verified');
    const store: Store = { root: path.join(tempDir(), 'store'), readScopes: ['o/main'], writeScope: 'o/main', maxBytes: 1 << 30 };
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    buildSnapshot(venv, snapshot); // what the background linker does right after the step
    return { plan: { key, venv, workspace, snapshot, store, cache: true, cacheTimeoutMs: 60_000 }, venv, logs: [], warnings: [] };
  }
  const log = (p: { logs: string[]; warnings: string[] }) => ({ info: (t: string) => p.logs.push(t), warning: (t: string) => p.warnings.push(t) });

  it('publishes to the store and saves to the cache what was verified, though a later step replaced a file', async () => {
    const p = plan('save-1');
    fs.rmSync(path.join(p.venv, 'label'));
    fs.writeFileSync(path.join(p.venv, 'label'), 'changed by a later step');
    const report = await saveSnapshot(p.plan, log(p), worker);
    expect(report).toMatchObject({ store: { saved: true }, cache: { saved: true } });
    expect(p.warnings).toEqual([]);
    expect(fs.readFileSync(path.join(findExact(p.plan.store!, 'save-1', p.venv)!.dir, 'venv', 'label'), 'utf8')).toBe('verified');
    expect(fs.existsSync(p.plan.snapshot.root)).toBe(false);

    // The cache entry restores into the venv's own path, with the verified content.
    fs.rmSync(p.venv, { recursive: true });
    const restored = await runWorker(restoreRequest('.venv', 'save-1', [], 60_000), { workspace: p.plan.workspace, timeoutMs: 60_000, ...worker });
    expect(restored.matchedKey).toBe('save-1');
    expect(fs.readFileSync(path.join(p.venv, 'label'), 'utf8')).toBe('verified');
  });

  it('builds no archive when a lookup finds the key saved by a matrix twin', async () => {
    await saveSnapshot(plan('twin').plan, { info: () => {}, warning: () => {} }, worker);
    const creates = (): number => server.requests.filter((r) => r.path.endsWith('CreateCacheEntry')).length;
    const before = creates();
    const p = plan('twin');
    const report = await saveSnapshot({ ...p.plan, store: undefined }, log(p), worker);
    expect(report.cache).toEqual({ saved: false, reason: 'an entry with this key already exists (a job with the same key saved it first)', expected: true });
    expect(creates()).toBe(before);
    expect(p.warnings).toEqual([]);
  });

  it('without the lookup (the restore saw the service fail) a key taken by a twin is a duplicate, not trouble', async () => {
    await saveSnapshot(plan('taken').plan, { info: () => {}, warning: () => {} }, worker);
    const lookups = (): number => server.requests.filter((r) => r.path.endsWith('GetCacheEntryDownloadURL')).length;
    const before = lookups();
    const p = plan('taken');
    const report = await saveSnapshot({ ...p.plan, store: undefined, cacheLookup: false }, log(p), worker);
    expect(report.cache).toEqual({
      saved: false,
      reason: 'an entry with this key already exists or is being saved (a job with the same key reserved it first)',
      expected: true,
    });
    expect(lookups()).toBe(before);
    expect(p.warnings).toEqual([]);
  });

  it('saves nothing, with a warning, when the venv was written in place after verification', async () => {
    const p = plan('in-place');
    fs.appendFileSync(path.join(p.venv, 'label'), ' patched');
    const report = await saveSnapshot(p.plan, log(p), worker);
    expect(report.store).toMatchObject({ saved: false });
    expect(p.warnings.join()).toMatch(/changed in place after verification \(label changed\)/);
    expect(findExact(p.plan.store!, 'in-place', p.venv)).toBeUndefined();
    expect(server.entries().map((e) => e.key)).not.toContain('in-place');
  });

  it('turns a cache failure into a warning', async () => {
    const p = plan('down');
    const report = await saveSnapshot({ ...p.plan, store: undefined }, log(p), { ...worker, run: undefined, entry: '/nonexistent/cache-worker.js' });
    expect(report.cache?.saved === false && report.cache.reason).toMatch(/missing/);
    expect(p.warnings.join()).toMatch(/not saved to the cache/);
  });
});

describe('States', () => {
  it('are names a shell carries in STATE_<name> (a wrapper script between the runner and node drops names with "-")', () => {
    for (const name of Object.values(States)) expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
  });
});
