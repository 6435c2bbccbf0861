import { jest } from '@jest/globals';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { places, planSave } from '../../src/cache/stage.js';
import { finishSnapshot, readManifest, readVenvKey } from '../../src/cache/snapshot.js';
import { publishEntry } from '../../src/cache/store.js';
import type { SavePlan } from '../../src/cache/save.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stage-'));
  dirs.push(dir);
  return dir;
}
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('places', () => {
  const inputs = { cache: true, venvStore: '', venvStoreMaxSize: '' };
  it('turns the store on for a self-hosted runner and names why the cache is off', () => {
    const found = places(inputs, { RUNNER_ENVIRONMENT: 'self-hosted', RUNNER_TOOL_CACHE: '/opt/t', ACTIONS_CACHE_MODE: 'none' });
    expect(found.store?.root).toBe('/opt/t/setup-poetry-torch');
    expect(found.cacheOff).toBe("ACTIONS_CACHE_MODE is 'none' (the cache is turned off for this job)");
  });

  it('keeps the store off on a GitHub-hosted runner and the cache off with cache: false', () => {
    const found = places({ ...inputs, cache: false }, { RUNNER_ENVIRONMENT: 'github-hosted', RUNNER_TOOL_CACHE: '/opt/t' });
    expect(found).toEqual({ storeOff: 'not a self-hosted runner (set venv-store to a directory to use one anyway)', cacheOff: 'cache: false' });
  });
});

describe('planSave', () => {
  function setup(): { workspace: string; venv: string; state: string } {
    const workspace = tempDir();
    const venv = path.join(workspace, '.venv');
    fs.mkdirSync(venv);
    fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
    const state = path.join(tempDir(), 'state');
    fs.writeFileSync(state, '');
    process.env.GITHUB_STATE = state;
    process.env.RUNNER_TEMP = tempDir();
    return { workspace, venv, state };
  }
  const newStore = (root = path.join(tempDir(), 'store')) => ({ root, readScopes: ['r'], writeScope: 'r', maxBytes: 1 << 30 });

  it('records the key in the venv, records what was verified and hands the post step its plan', async () => {
    const { workspace, venv, state } = setup();
    const store = newStore();
    const stage = planSave({ places: { store }, restore: { kind: 'miss', durationMs: 1 }, venv, workspace, key: 'k1', cacheTimeoutMs: 1000 });
    expect(stage).toEqual({
      cache: { saved: false, reason: 'in the post step', expected: true, deferred: true },
      store: { saved: false, reason: 'in the post step', expected: true, deferred: true },
    });
    expect(readVenvKey(venv)).toBe('k1');
    const text = fs.readFileSync(state, 'utf8');
    const plan = JSON.parse(/^SAVE_PLAN<<(\S+)\n([\s\S]*?)\n\1$/m.exec(text)![2]) as SavePlan;
    expect(plan).toMatchObject({ key: 'k1', venv, workspace, store, cache: true, cacheLookup: true });
    expect(path.dirname(plan.snapshot.root)).toBe(process.env.RUNNER_TEMP);
    // The linker is not bundled next to the sources, so here the post step's fallback links it.
    expect(await finishSnapshot(venv, plan.snapshot, 10_000)).toMatchObject({ stats: { files: 2 } });
    expect(fs.readFileSync(path.join(plan.snapshot.venv, 'pyvenv.cfg'), 'utf8')).toBe('home = /usr/bin\n');
  });

  it('after a failed restore the save skips its lookup (the service just failed that question)', () => {
    const { workspace, venv, state } = setup();
    planSave({
      places: { store: newStore() },
      restore: { kind: 'failed', reason: '503', durationMs: 1, reported: true },
      venv,
      workspace,
      key: 'k1',
      cacheTimeoutMs: 1000,
    });
    const plan = JSON.parse(/^SAVE_PLAN<<(\S+)\n([\s\S]*?)\n\1$/m.exec(fs.readFileSync(state, 'utf8'))![2]) as SavePlan;
    expect(plan).toMatchObject({ cache: true, cacheLookup: false });
  });

  it('plans nothing, with a warning, when the snapshot cannot be taken', () => {
    const { workspace, venv, state } = setup();
    // RUNNER_TEMP is a file: no snapshot can be made there.
    const blocked = path.join(tempDir(), 'not-a-dir');
    fs.writeFileSync(blocked, '');
    process.env.RUNNER_TEMP = blocked;
    const store = newStore();
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const stage = planSave({ places: { store }, restore: { kind: 'miss', durationMs: 1 }, venv, workspace, key: 'k1', cacheTimeoutMs: 1000 });
      expect(!stage.cache.saved && stage.cache.reason).toMatch(/^could not record the verified venv in .*not-a-dir/);
      expect(stage.store).toEqual(stage.cache);
      expect(stdout.mock.calls.map(([text]) => String(text)).join('')).toMatch(
        /::warning::The virtualenv was not saved to the cache or the venv store: could not record the verified venv/,
      );
    } finally {
      stdout.mockRestore();
    }
    expect(fs.readFileSync(state, 'utf8')).toBe('');
  });

  it("after an exact store hit plans the store's republish from the entry's manifest, with no walk of the venv", () => {
    const { workspace, venv, state } = setup();
    const manifest = { 'pyvenv.cfg': 'as the entry recorded it' };
    const stage = planSave({
      places: { store: newStore() },
      restore: { kind: 'exact', from: 'store', matchedKey: 'k1', durationMs: 1, manifest },
      venv,
      workspace,
      key: 'k1',
      cacheTimeoutMs: 1000,
    });
    expect(stage.store).toEqual({ saved: false, reason: 'in the post step', expected: true, deferred: true });
    expect(stage.cache).toEqual({ saved: false, reason: 'exact hit (from the store), nothing new to save', expected: true });
    const plan = JSON.parse(/^SAVE_PLAN<<(\S+)\n([\s\S]*?)\n\1$/m.exec(fs.readFileSync(state, 'utf8'))![2]) as SavePlan;
    expect(readManifest(plan.snapshot.root)).toEqual(manifest);
    expect(plan.cache).toBe(false);
  });

  it('plans no store save when the store already holds the key (an exact local hit)', () => {
    const { workspace, venv, state } = setup();
    const store = newStore();
    const other = path.join(tempDir(), 'v');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'pyvenv.cfg'), 'home = /usr/bin\n');
    expect(publishEntry(store, other, 'k1', venv).published).toBe(true);
    const stage = planSave({
      places: { store, cacheOff: 'cache: false' },
      restore: { kind: 'exact', from: 'local', matchedKey: 'k1', durationMs: 1 },
      venv,
      workspace,
      key: 'k1',
      cacheTimeoutMs: 1000,
    });
    expect(stage.store).toEqual({ saved: false, reason: 'the store already holds this key', expected: true });
    expect(fs.readFileSync(state, 'utf8')).toBe('');
  });
});
