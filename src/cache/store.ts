import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shortHash } from './keys.js';
import { linkTree, manifestBytes, recordTree, treeChange, type LinkStats, type Manifest } from './tree.js';

/**
 * The runner's venv store: verified venvs kept on the runner's disk and linked into the project.
 *
 * <root>/v1/entries/<repo>/<ref>/<key>--<venv path hash>/{venv/, manifest.json, meta.json, leases/}
 * <root>/v1/tmp/    entries being built; renamed into entries/ when complete (atomic publish)
 * <root>/v1/trash/  entries being evicted; renamed out of entries/ first, so no reader finds half of one
 *
 * An exact hit takes the entry: one rename moves its venv into the project (no file is linked or
 * copied), and the post step publishes it again from the snapshot of what this job verified.
 * A partial hit links the entry's files, because the sync then changes the venv.
 */

const LAYOUT = 'v1';
/** A lease older than this belongs to a job that died; eviction stops honouring it. */
const LEASE_TTL_MS = 2 * 60 * 60_000;

export interface Store {
  root: string;
  /** Scope directories (repo/ref) this job may read, its own first. */
  readScopes: string[];
  writeScope: string;
  maxBytes: number;
}

export interface StoreEntry {
  dir: string;
  key: string;
}

export type StoreRestore = { ok: true; entry: StoreEntry; stats: LinkStats } | { ok: false; reason: string };
/** taken: the venv moved into the project whole; manifest: what it held, for the post step's republish. */
export type StoreTake = { ok: true; entry: StoreEntry; manifest: Manifest; moved: boolean } | { ok: false; reason: string; quiet?: boolean };
export type StorePublish = { published: true; dir: string; evicted: string[] } | { published: false; reason: string };

const entriesDir = (store: Store): string => path.join(store.root, LAYOUT, 'entries');
/** Where entries (and the snapshots that become them) are built: on the store's filesystem. */
const storeTempDir = (store: Store): string => path.join(store.root, LAYOUT, 'tmp');

/** Venvs are not relocatable: the path they were built at is part of the entry's name. */
export function entryName(key: string, venv: string): string {
  return `${key}--${shortHash(path.resolve(venv), 12)}`;
}

function entryAt(dir: string): StoreEntry | undefined {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { key: string };
    return { dir, key: meta.key };
  } catch {
    return undefined;
  }
}

export function findExact(store: Store, key: string, venv: string): StoreEntry | undefined {
  for (const scope of store.readScopes) {
    const entry = entryAt(path.join(entriesDir(store), scope, entryName(key, venv)));
    if (entry) return entry;
  }
  return undefined;
}

/** The newest entry whose key starts with the prefix, for the same venv path, in the first scope that has one. */
export function findPartial(store: Store, prefix: string, venv: string): StoreEntry | undefined {
  const suffix = entryName('', venv);
  for (const scope of store.readScopes) {
    const dir = path.join(entriesDir(store), scope);
    const names = listDir(dir).filter((name) => name.startsWith(prefix) && name.endsWith(suffix));
    const newest = names
      .map((name) => ({ name, time: mtime(path.join(dir, name, 'meta.json')) }))
      .filter((found) => found.time > 0)
      .sort((a, b) => b.time - a.time)[0];
    const entry = newest && entryAt(path.join(dir, newest.name));
    if (entry) return entry;
  }
  return undefined;
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function mtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function readManifest(entry: StoreEntry): Manifest {
  return JSON.parse(fs.readFileSync(path.join(entry.dir, 'manifest.json'), 'utf8')) as Manifest;
}

const isLeased = (dir: string, now = Date.now()): boolean =>
  listDir(path.join(dir, 'leases')).some((lease) => now - mtime(path.join(dir, 'leases', lease)) < LEASE_TTL_MS);

/**
 * An exact hit: checks the entry against its manifest (a stat per file), then takes it out of
 * entries/ in one rename, so no other job can find it half gone, and moves its venv into `venv`.
 * An entry that another job is linking from (a lease) is linked instead of taken.
 */
export function takeEntry(store: Store, entry: StoreEntry, venv: string): StoreTake {
  if (fs.existsSync(venv)) return { ok: false, reason: `${venv} already exists` };
  let manifest: Manifest;
  try {
    manifest = readManifest(entry);
    const change = treeChange(path.join(entry.dir, 'venv'), manifest);
    if (change) {
      discardEntry(store, entry.dir);
      return { ok: false, reason: `the store entry changed after it was published (${change}); it was discarded` };
    }
  } catch (error) {
    return { ok: false, reason: `the store entry could not be read (${(error as Error).message})` };
  }
  if (isLeased(entry.dir)) {
    const linked = restoreEntry(store, entry, venv);
    return linked.ok ? { ok: true, entry, manifest, moved: false } : linked;
  }
  const taken = path.join(store.root, LAYOUT, 'taken', `${path.basename(entry.dir)}-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(path.dirname(taken), { recursive: true });
    fs.renameSync(entry.dir, taken);
  } catch {
    return { ok: false, reason: 'another job took the store entry first', quiet: true };
  }
  try {
    fs.mkdirSync(path.dirname(venv), { recursive: true });
    try {
      fs.renameSync(path.join(taken, 'venv'), venv);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      linkTree(path.join(taken, 'venv'), venv); // the project is on another filesystem: copies
    }
    return { ok: true, entry, manifest, moved: true };
  } catch (error) {
    fs.rmSync(venv, { recursive: true, force: true });
    return { ok: false, reason: `the store entry could not be moved into the project (${(error as Error).message})` };
  } finally {
    fs.rmSync(taken, { recursive: true, force: true });
  }
}

/** A lease keeps eviction away while this job links the entry; it returns the release. */
function takeLease(entry: StoreEntry): () => void {
  const leases = path.join(entry.dir, 'leases');
  fs.mkdirSync(leases, { recursive: true });
  const lease = path.join(leases, `${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(lease, '');
  return () => fs.rmSync(lease, { force: true });
}

/**
 * Links the entry into `venv` (which must not exist). An entry changed since it was published
 * is discarded, never served; one evicted while this job links it leaves no half venv behind.
 */
export function restoreEntry(store: Store, entry: StoreEntry, venv: string): StoreRestore {
  if (fs.existsSync(venv)) return { ok: false, reason: `${venv} already exists` };
  let release: (() => void) | undefined;
  try {
    release = takeLease(entry);
    const change = treeChange(path.join(entry.dir, 'venv'), readManifest(entry));
    if (change) {
      discardEntry(store, entry.dir);
      return { ok: false, reason: `the store entry changed after it was published (${change}); it was discarded` };
    }
    fs.mkdirSync(path.dirname(venv), { recursive: true });
    const stats = linkTree(path.join(entry.dir, 'venv'), venv);
    touch(path.join(entry.dir, 'used'));
    return { ok: true, entry, stats };
  } catch (error) {
    fs.rmSync(venv, { recursive: true, force: true });
    return { ok: false, reason: `the store entry could not be linked (${(error as Error).message})` };
  } finally {
    try {
      release?.();
    } catch {
      // The entry was evicted meanwhile; its lease went with it.
    }
  }
}

function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    fs.writeFileSync(file, '');
  }
}

/** Moves an entry out of entries/ in one rename, then deletes it. */
function discardEntry(store: Store, dir: string): void {
  const trash = path.join(store.root, LAYOUT, 'trash');
  fs.mkdirSync(trash, { recursive: true });
  const doomed = path.join(trash, `${path.basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    fs.renameSync(dir, doomed);
  } catch {
    return; // Another job discarded it first.
  }
  fs.rmSync(doomed, { recursive: true, force: true });
}

/**
 * Publishes a verified venv (the snapshot of it, which it moves) as the entry for `key` and
 * `venv`: built in tmp/, then renamed into place, so readers see a whole entry or none. A valid
 * entry that is already there wins; one that changed since it was published is replaced.
 */
export function publishEntry(store: Store, source: string, key: string, venv: string, manifest?: Manifest): StorePublish {
  const final = path.join(entriesDir(store), store.writeScope, entryName(key, venv));
  const existing = entryAt(final);
  if (existing && !treeChange(path.join(final, 'venv'), readManifest(existing))) return { published: false, reason: 'the store already holds this key' };
  if (existing) discardEntry(store, final);
  fs.mkdirSync(storeTempDir(store), { recursive: true });
  const build = fs.mkdtempSync(path.join(storeTempDir(store), 'entry-'));
  try {
    try {
      fs.renameSync(source, path.join(build, 'venv'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      linkTree(source, path.join(build, 'venv')); // the snapshot is on another filesystem: copies
      manifest = undefined; // new inodes
    }
    // The moved snapshot keeps its inodes, so the verified manifest still describes it.
    const recorded = manifest ?? recordTree(path.join(build, 'venv'));
    fs.writeFileSync(path.join(build, 'manifest.json'), JSON.stringify(recorded));
    const sizeBytes = manifestBytes(recorded);
    fs.writeFileSync(path.join(build, 'meta.json'), JSON.stringify({ key, venv: path.resolve(venv), sizeBytes, publishedAt: new Date().toISOString() }));
    fs.writeFileSync(path.join(build, 'used'), '');
    fs.mkdirSync(path.dirname(final), { recursive: true });
    fs.renameSync(build, final);
  } catch (error) {
    fs.rmSync(build, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return { published: false, reason: 'another job published this key first' };
    return { published: false, reason: `the store entry could not be built (${(error as Error).message})` };
  }
  return { published: true, dir: final, evicted: evict(store, final) };
}

interface Listed {
  dir: string;
  sizeBytes: number;
  used: number;
  leased: boolean;
}

function listEntries(store: Store, now: number): Listed[] {
  const listed: Listed[] = [];
  const root = entriesDir(store);
  for (const repo of listDir(root)) {
    for (const ref of listDir(path.join(root, repo))) {
      for (const name of listDir(path.join(root, repo, ref))) {
        const dir = path.join(root, repo, ref, name);
        let sizeBytes: number;
        try {
          sizeBytes = (JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as { sizeBytes: number }).sizeBytes;
        } catch {
          continue;
        }
        listed.push({ dir, sizeBytes, used: mtime(path.join(dir, 'used')), leased: isLeased(dir, now) });
      }
    }
  }
  return listed;
}

/** Least recently used first, until the store fits; never the entry just published, never a leased one. */
export function evict(store: Store, keep: string, now = Date.now()): string[] {
  const entries = listEntries(store, now);
  let total = entries.reduce((sum, entry) => sum + entry.sizeBytes, 0);
  const evicted: string[] = [];
  for (const entry of entries.sort((a, b) => a.used - b.used)) {
    if (total <= store.maxBytes) break;
    if (entry.dir === keep || entry.leased) continue;
    discardEntry(store, entry.dir);
    evicted.push(entry.dir);
    total -= entry.sizeBytes;
  }
  return evicted;
}
