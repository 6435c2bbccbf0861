import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keySegment, shortHash } from './keys.js';
import { linkTree, recordTree, treeBytes, treeChange, type LinkStats, type Manifest } from './tree.js';

/**
 * The runner's venv store: verified venvs kept on the runner's disk and linked into the project.
 *
 * <root>/v1/entries/<repo>/<ref>/<key>--<venv path hash>/{venv/, manifest.json, meta.json, leases/}
 * <root>/v1/tmp/    entries being built; renamed into entries/ when complete (atomic publish)
 * <root>/v1/trash/  entries being evicted; renamed out of entries/ first, so no reader finds half of one
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
export type StorePublish = { published: true; dir: string; evicted: string[] } | { published: false; reason: string };

function scopeDir(repository: string, ref: string): string {
  return path.join(keySegment(repository || 'local'), keySegment(ref || 'local'));
}

function defaultBranch(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const event = JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as { repository?: { default_branch?: string } };
    return event.repository?.default_branch || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The GitHub cache's rule: a job reads what its own ref saved, what the default branch saved,
 * and for a pull request what its base branch saved; it writes only under its own ref, so a
 * pull request never writes where the default branch reads.
 */
export function storeScopes(env: NodeJS.ProcessEnv): { readScopes: string[]; writeScope: string } {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const own = scopeDir(repository, env.GITHUB_REF ?? '');
  const reads = [own];
  if (env.GITHUB_BASE_REF) reads.push(scopeDir(repository, `refs/heads/${env.GITHUB_BASE_REF}`));
  const main = defaultBranch(env);
  if (main) reads.push(scopeDir(repository, `refs/heads/${main}`));
  return { readScopes: [...new Set(reads)], writeScope: own };
}

const entriesDir = (store: Store): string => path.join(store.root, LAYOUT, 'entries');

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
 * Publishes a verified venv (a snapshot of it) as the entry for `key` and `venv`: built in tmp/,
 * then renamed into place, so readers see a whole entry or none. A valid entry that is already
 * there wins; one that changed since it was published is replaced.
 */
export function publishEntry(store: Store, source: string, key: string, venv: string): StorePublish {
  const final = path.join(entriesDir(store), store.writeScope, entryName(key, venv));
  const existing = entryAt(final);
  if (existing && !treeChange(path.join(final, 'venv'), readManifest(existing))) return { published: false, reason: 'the store already holds this key' };
  if (existing) discardEntry(store, final);
  const tmpRoot = path.join(store.root, LAYOUT, 'tmp');
  fs.mkdirSync(tmpRoot, { recursive: true });
  const build = fs.mkdtempSync(path.join(tmpRoot, 'entry-'));
  try {
    linkTree(source, path.join(build, 'venv'));
    const manifest = recordTree(path.join(build, 'venv'));
    fs.writeFileSync(path.join(build, 'manifest.json'), JSON.stringify(manifest));
    const sizeBytes = treeBytes(path.join(build, 'venv'));
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
        const leased = listDir(path.join(dir, 'leases')).some((lease) => now - mtime(path.join(dir, 'leases', lease)) < LEASE_TTL_MS);
        listed.push({ dir, sizeBytes, used: mtime(path.join(dir, 'used')), leased });
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
