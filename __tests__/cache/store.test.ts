import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entryName, evict, findExact, findPartial, publishEntry, restoreEntry, takeEntry, type Store } from '../../src/cache/store.js';
import { linkTree } from '../../src/cache/tree.js';
import { storeScopes } from '../../src/cache/config.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

const PREFIX = 'setup-poetry-torch-v1-linux-ubuntu24.04-x64-py3.11.7-abcdef01-cpu-';
const KEY = `${PREFIX}11111111-2222222222222222`;

function makeVenv(dir: string, content = 'x = 1\n', size = 0): string {
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'pyvenv.cfg'), 'home = /usr/bin\n');
  fs.writeFileSync(path.join(dir, 'lib', 'torch.py'), content + 'p'.repeat(size));
  return dir;
}

/** As the post step publishes: a snapshot of hardlinks to the venv, moved into the store. */
function publishLinked(store: Store, venv: string, key: string, target: string): ReturnType<typeof publishEntry> {
  const snapshot = `${venv}-snapshot`;
  linkTree(venv, snapshot);
  return publishEntry(store, snapshot, key, target);
}

function makeStore(root = tempDir(), overrides: Partial<Store> = {}): Store {
  return { root, readScopes: ['example/refs_heads_main'], writeScope: 'example/refs_heads_main', maxBytes: 1 << 30, ...overrides };
}

describe('publish and restore', () => {
  it('publishes a venv and links it into a fresh project path: same inodes, no copy', () => {
    const store = makeStore();
    const work = tempDir();
    const project = path.join(work, 'project', '.venv');
    const published = publishLinked(store, makeVenv(path.join(work, 'snapshot')), KEY, project);
    expect(published.published).toBe(true);
    const entry = findExact(store, KEY, project);
    expect(entry?.key).toBe(KEY);
    const restored = restoreEntry(store, entry!, project);
    expect(restored).toMatchObject({ ok: true, stats: { files: 2, linked: 2, copied: 0 } });
    expect(fs.statSync(path.join(project, 'lib', 'torch.py')).ino).toBe(fs.statSync(path.join(work, 'snapshot', 'lib', 'torch.py')).ino);
    expect(findExact(store, KEY, project)).toBeDefined();
  });

  it('an exact hit takes the entry: its venv moves into the project in one rename, and the store no longer has it', () => {
    const store = makeStore();
    const work = tempDir();
    const project = path.join(work, 'project', '.venv');
    publishLinked(store, makeVenv(path.join(work, 'snapshot')), KEY, project);
    const entryVenv = path.join(findExact(store, KEY, project)!.dir, 'venv');
    const inode = fs.statSync(entryVenv).ino;
    const taken = takeEntry(store, findExact(store, KEY, project)!, project);
    expect(taken).toMatchObject({ ok: true, moved: true });
    expect(taken.ok && Object.keys(taken.manifest).sort()).toEqual(['lib/', 'lib/torch.py', 'pyvenv.cfg']);
    expect(fs.statSync(project).ino).toBe(inode); // the directory itself: moved, not rebuilt
    expect(findExact(store, KEY, project)).toBeUndefined();
    expect(fs.readdirSync(path.join(store.root, 'v1', 'taken'))).toEqual([]);
  });

  it('an exact hit on an entry that another job is linking from links it instead of taking it', () => {
    const store = makeStore();
    const work = tempDir();
    const project = path.join(work, 'project', '.venv');
    publishLinked(store, makeVenv(path.join(work, 'snapshot')), KEY, project);
    const entry = findExact(store, KEY, project)!;
    fs.mkdirSync(path.join(entry.dir, 'leases'));
    fs.writeFileSync(path.join(entry.dir, 'leases', 'other-job'), '');
    expect(takeEntry(store, entry, project)).toMatchObject({ ok: true, moved: false });
    expect(findExact(store, KEY, project)).toBeDefined();
  });

  it('of two jobs taking one entry, the second finds it gone and says so quietly', () => {
    const store = makeStore();
    const work = tempDir();
    const project = path.join(work, 'project', '.venv');
    publishLinked(store, makeVenv(path.join(work, 'snapshot')), KEY, project);
    const entry = findExact(store, KEY, project)!;
    expect(takeEntry(store, entry, project).ok).toBe(true);
    expect(takeEntry(store, entry, path.join(work, 'other', '.venv'))).toMatchObject({ ok: false });
  });

  it('keys entries by the venv path too: a venv is not relocatable', () => {
    const store = makeStore();
    const work = tempDir();
    publishLinked(store, makeVenv(path.join(work, 'snap')), KEY, '/ws/a/.venv');
    expect(findExact(store, KEY, '/ws/a/.venv')).toBeDefined();
    expect(findExact(store, KEY, '/ws/b/.venv')).toBeUndefined();
    expect(findPartial(store, PREFIX, '/ws/b/.venv')).toBeUndefined();
  });

  it('finds the newest entry with the prefix as a partial hit', () => {
    const store = makeStore();
    const work = tempDir();
    publishLinked(store, makeVenv(path.join(work, 'a')), `${PREFIX}old`, '/ws/.venv');
    publishLinked(store, makeVenv(path.join(work, 'b')), `${PREFIX}new`, '/ws/.venv');
    const older = path.join(store.root, 'v1', 'entries', store.writeScope, entryName(`${PREFIX}old`, '/ws/.venv'), 'meta.json');
    fs.utimesSync(older, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect(findPartial(store, PREFIX, '/ws/.venv')?.key).toBe(`${PREFIX}new`);
    expect(findPartial(store, 'setup-poetry-torch-v1-linux-ubuntu24.04-x64-py3.11.7-abcdef01-cuda-', '/ws/.venv')).toBeUndefined();
  });

  it('discards an entry changed through a hardlink after publishing, and never serves it', () => {
    const store = makeStore();
    const work = tempDir();
    const first = path.join(work, 'job1', '.venv');
    publishLinked(store, makeVenv(path.join(work, 'snap')), KEY, first);
    // A later step of the publishing job writes in place into its venv, which shares the entry's inodes.
    fs.appendFileSync(path.join(work, 'snap', 'lib', 'torch.py'), 'import evil\n');
    const restored = restoreEntry(store, findExact(store, KEY, first)!, first);
    expect(!restored.ok && restored.reason).toMatch(/changed after it was published \(lib\/torch\.py changed\)/);
    expect(fs.existsSync(first)).toBe(false);
    expect(findExact(store, KEY, first)).toBeUndefined();
    // The same through an exact hit, which would otherwise take the entry.
    publishLinked(store, makeVenv(path.join(work, 'snap2')), KEY, first);
    fs.appendFileSync(path.join(work, 'snap2', 'lib', 'torch.py'), 'import evil\n');
    const taken = takeEntry(store, findExact(store, KEY, first)!, first);
    expect(!taken.ok && taken.reason).toMatch(/changed after it was published \(lib\/torch\.py changed\)/);
    expect(fs.existsSync(first)).toBe(false);
  });

  it('never links over an existing path, and leaves it alone', () => {
    const store = makeStore();
    const work = tempDir();
    const project = makeVenv(path.join(work, 'p', '.venv'), 'mine\n');
    publishLinked(store, makeVenv(path.join(work, 'snap')), KEY, project);
    const restored = restoreEntry(store, findExact(store, KEY, project)!, project);
    expect(!restored.ok && restored.reason).toMatch(/already exists/);
    expect(fs.readFileSync(path.join(project, 'lib', 'torch.py'), 'utf8')).toBe('mine\n');
  });

  it('keeps the first of two publishers of one key, whole', () => {
    const store = makeStore();
    const work = tempDir();
    expect(publishLinked(store, makeVenv(path.join(work, 'a'), 'first\n'), KEY, '/ws/.venv').published).toBe(true);
    expect(publishLinked(store, makeVenv(path.join(work, 'b'), 'second\n'), KEY, '/ws/.venv')).toEqual({
      published: false,
      reason: 'the store already holds this key',
    });
    const entry = findExact(store, KEY, '/ws/.venv')!;
    expect(fs.readFileSync(path.join(entry.dir, 'venv', 'lib', 'torch.py'), 'utf8')).toBe('first\n');
    expect(fs.readdirSync(path.join(store.root, 'v1', 'tmp'))).toEqual([]);
  });

  it('replaces an entry that changed since it was published', () => {
    const store = makeStore();
    const work = tempDir();
    publishLinked(store, makeVenv(path.join(work, 'a'), 'first\n'), KEY, '/ws/.venv');
    fs.appendFileSync(path.join(work, 'a', 'lib', 'torch.py'), 'changed\n');
    expect(publishLinked(store, makeVenv(path.join(work, 'b'), 'second\n'), KEY, '/ws/.venv').published).toBe(true);
    expect(fs.readFileSync(path.join(findExact(store, KEY, '/ws/.venv')!.dir, 'venv', 'lib', 'torch.py'), 'utf8')).toBe('second\n');
  });
});

describe('scoping', () => {
  const event = (branch: string): string => {
    const file = path.join(tempDir(), 'event.json');
    fs.writeFileSync(file, JSON.stringify({ repository: { default_branch: branch } }));
    return file;
  };

  it('reads its own ref, the base branch and the default branch; writes only its own ref', () => {
    const scopes = storeScopes({ GITHUB_REPOSITORY: 'o/r', GITHUB_REF: 'refs/pull/7/merge', GITHUB_BASE_REF: 'release', GITHUB_EVENT_PATH: event('main') });
    expect(scopes.readScopes).toHaveLength(3);
    expect(scopes.writeScope).toBe(scopes.readScopes[0]);
    const main = storeScopes({ GITHUB_REPOSITORY: 'o/r', GITHUB_REF: 'refs/heads/main', GITHUB_EVENT_PATH: event('main') });
    expect(main.readScopes).toEqual([main.writeScope]);
    expect(scopes.readScopes).toContain(main.writeScope);
    expect(main.readScopes).not.toContain(scopes.writeScope);
  });

  it("does not restore a pull request's entry in a default-branch job, and does the reverse", () => {
    const root = tempDir();
    const work = tempDir();
    const pr = makeStore(
      root,
      storeScopes({ GITHUB_REPOSITORY: 'o/r', GITHUB_REF: 'refs/pull/7/merge', GITHUB_BASE_REF: 'main', GITHUB_EVENT_PATH: event('main') }),
    );
    const main = makeStore(root, storeScopes({ GITHUB_REPOSITORY: 'o/r', GITHUB_REF: 'refs/heads/main', GITHUB_EVENT_PATH: event('main') }));
    publishLinked(pr, makeVenv(path.join(work, 'pr')), KEY, '/ws/.venv');
    expect(findExact(main, KEY, '/ws/.venv')).toBeUndefined();
    publishLinked(main, makeVenv(path.join(work, 'main')), `${PREFIX}main`, '/ws/.venv');
    expect(findPartial(pr, PREFIX, '/ws/.venv')).toBeDefined();
  });

  it('keeps repositories apart', () => {
    const root = tempDir();
    const a = makeStore(root, storeScopes({ GITHUB_REPOSITORY: 'o/a', GITHUB_REF: 'refs/heads/main' }));
    const b = makeStore(root, storeScopes({ GITHUB_REPOSITORY: 'o/b', GITHUB_REF: 'refs/heads/main' }));
    publishLinked(a, makeVenv(path.join(tempDir(), 'v')), KEY, '/ws/.venv');
    expect(findExact(b, KEY, '/ws/.venv')).toBeUndefined();
  });
});

describe('eviction', () => {
  it('evicts the least recently used entries beyond the limit, never the new one or a leased one', () => {
    const store = makeStore(tempDir(), { maxBytes: 2500 });
    const work = tempDir();
    const age = (key: string, minutes: number): void => {
      const used = path.join(store.root, 'v1', 'entries', store.writeScope, entryName(key, '/ws/.venv'), 'used');
      fs.utimesSync(used, new Date(Date.now() - minutes * 60_000), new Date(Date.now() - minutes * 60_000));
    };
    for (const [name, minutes] of [
      ['a', 30],
      ['b', 20],
      ['c', 10],
    ] as const) {
      publishLinked(store, makeVenv(path.join(work, name), '', 1000), `${PREFIX}${name}`, '/ws/.venv');
      age(`${PREFIX}${name}`, minutes);
    }
    // Three of ~1 KB each fit in 2.5 KB? No: the third publish already evicted the oldest.
    expect(findExact(store, `${PREFIX}a`, '/ws/.venv')).toBeUndefined();
    const leased = findExact(store, `${PREFIX}b`, '/ws/.venv')!;
    fs.mkdirSync(path.join(leased.dir, 'leases'));
    fs.writeFileSync(path.join(leased.dir, 'leases', 'reader'), '');
    const published = publishLinked(store, makeVenv(path.join(work, 'd'), '', 1000), `${PREFIX}d`, '/ws/.venv');
    expect(published.published && published.evicted.map((dir) => path.basename(dir))).toEqual([entryName(`${PREFIX}c`, '/ws/.venv')]);
    expect(findExact(store, `${PREFIX}b`, '/ws/.venv')).toBeDefined();
    expect(findExact(store, `${PREFIX}d`, '/ws/.venv')).toBeDefined();
  });

  it('ignores a lease left by a job that died long ago', () => {
    const store = makeStore(tempDir(), { maxBytes: 1500 });
    publishLinked(store, makeVenv(path.join(tempDir(), 'a'), '', 1000), `${PREFIX}a`, '/ws/.venv');
    const entry = findExact(store, `${PREFIX}a`, '/ws/.venv')!;
    fs.mkdirSync(path.join(entry.dir, 'leases'));
    const lease = path.join(entry.dir, 'leases', 'dead');
    fs.writeFileSync(lease, '');
    fs.utimesSync(lease, new Date(0), new Date(0));
    publishLinked(store, makeVenv(path.join(tempDir(), 'b'), '', 1000), `${PREFIX}b`, '/ws/.venv');
    expect(findExact(store, `${PREFIX}a`, '/ws/.venv')).toBeUndefined();
    expect(evict(store, '')).toEqual([]);
  });
});
