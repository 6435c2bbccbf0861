import * as fs from 'node:fs';
import * as path from 'node:path';
import { linkFromManifest, recordTree, replaceFile, treeChange, type LinkStats, type Manifest } from './tree.js';

/** The key the action verified a venv for, kept inside the venv (issue 12: an existing venv that carries it needs no sync). */
export const VENV_KEY_FILE = '.setup-poetry-torch-key';

export function readVenvKey(venv: string): string | undefined {
  try {
    return fs.readFileSync(path.join(venv, VENV_KEY_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** By rename: the file may be a hardlink into a store entry, which must not change. */
export function writeVenvKey(venv: string, key: string): void {
  // Unchanged when it already holds the key: the file stays the one the store entry shares.
  if (readVenvKey(venv) !== key) replaceFile(path.join(venv, VENV_KEY_FILE), `${key}\n`);
}

/** A venv's path with its root (`/`, `C:\`) removed, to lay it out again under another root. */
function underRoot(root: string, target: string): string {
  const resolved = path.resolve(target);
  return path.join(root, resolved.slice(path.parse(resolved).root.length).replace(/:/g, ''));
}

export interface Snapshot {
  root: string;
  /** The snapshot's copy of the venv, at the venv's own path under `root`. */
  venv: string;
  /** The workspace's path under `root`: the cache sees the snapshot at the venv's relative path from here. */
  workspace: string;
}

/** The linker's report, written by rename so a reader never sees half of one. */
export interface SnapshotDone {
  stats?: LinkStats;
  /** A verified file was replaced or written before it was linked: the snapshot is not what was verified. */
  change?: string;
  error?: string;
}

const manifestFile = (root: string): string => path.join(root, 'manifest.json');
/** The snapshot's own manifest, when files had to be copied (across mounts): their inodes are new. */
const copiedManifestFile = (root: string): string => path.join(root, 'copied-manifest.json');
const doneFile = (root: string): string => path.join(root, 'done.json');
const pidFile = (root: string): string => path.join(root, 'pid');

/**
 * Right after verification: records what was verified (a manifest: a stat per file, no copying)
 * and lays out where the snapshot goes. The hardlinks are made by `buildSnapshot`, which the step
 * starts in the background (the step does not wait for it); every file it links is checked
 * against the manifest, so a later step that replaces or edits a verified file before it is
 * linked leaves an incomplete snapshot, which is never saved.
 */
export function prepareSnapshot(venv: string, workspace: string, parentDir: string, manifest: Manifest = recordTree(venv)): Snapshot {
  fs.mkdirSync(parentDir, { recursive: true });
  const root = fs.mkdtempSync(path.join(parentDir, 'setup-poetry-torch-snapshot-'));
  const tree = path.join(root, 'tree');
  fs.writeFileSync(manifestFile(root), JSON.stringify(manifest));
  const mirroredWorkspace = underRoot(tree, workspace);
  fs.mkdirSync(mirroredWorkspace, { recursive: true });
  return { root, venv: underRoot(tree, venv), workspace: mirroredWorkspace };
}

export function readManifest(root: string): Manifest {
  return JSON.parse(fs.readFileSync(manifestFile(root), 'utf8')) as Manifest;
}

/** What the snapshot's files are: the verified manifest, unless files were copied rather than linked. */
export function snapshotManifest(root: string): Manifest {
  return fs.existsSync(copiedManifestFile(root)) ? (JSON.parse(fs.readFileSync(copiedManifestFile(root), 'utf8')) as Manifest) : readManifest(root);
}

/** The background linker's work (also run in the post step when the linker did not finish). */
export function buildSnapshot(source: string, snapshot: Pick<Snapshot, 'root' | 'venv'>): SnapshotDone {
  let done: SnapshotDone;
  try {
    fs.rmSync(snapshot.venv, { recursive: true, force: true });
    fs.rmSync(copiedManifestFile(snapshot.root), { force: true });
    done = linkFromManifest(source, readManifest(snapshot.root), snapshot.venv);
    // A bind mount or another filesystem between the venv and RUNNER_TEMP (EXDEV): copies were
    // checked against the venv as they were made; from now on the snapshot is its own record.
    if (!done.change && (done.stats?.copied ?? 0) > 0) fs.writeFileSync(copiedManifestFile(snapshot.root), JSON.stringify(recordTree(snapshot.venv)));
  } catch (error) {
    // Across filesystems into a full one (ENOSPC), say.
    done = { error: (error as Error).message };
  }
  replaceFile(doneFile(snapshot.root), JSON.stringify(done));
  return done;
}

export function recordLinker(root: string, pid: number): void {
  fs.writeFileSync(pidFile(root), String(pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readDone(root: string): SnapshotDone | undefined {
  try {
    return JSON.parse(fs.readFileSync(doneFile(root), 'utf8')) as SnapshotDone;
  } catch {
    return undefined;
  }
}

/**
 * The post step's wait for the background linker. A linker that is gone without a report (killed,
 * or never started) is replaced by linking here, with the same checks.
 */
export async function finishSnapshot(source: string, snapshot: Pick<Snapshot, 'root' | 'venv'>, timeoutMs: number): Promise<SnapshotDone> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = readDone(snapshot.root);
    if (done) return done;
    const pid = Number(fs.existsSync(pidFile(snapshot.root)) ? fs.readFileSync(pidFile(snapshot.root), 'utf8') : NaN);
    if (!Number.isInteger(pid) || !alive(pid)) return readDone(snapshot.root) ?? buildSnapshot(source, snapshot);
    if (Date.now() > deadline) return { error: `the snapshot was not finished within ${Math.round(timeoutMs / 1000)} s` };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How the snapshot differs from what was verified (a write in place after it was linked), or undefined. */
export function snapshotChange(snapshot: Pick<Snapshot, 'root' | 'venv'>): string | undefined {
  try {
    return treeChange(snapshot.venv, snapshotManifest(snapshot.root));
  } catch (error) {
    return (error as Error).message;
  }
}

export function dropSnapshot(snapshot: Pick<Snapshot, 'root'>): void {
  fs.rmSync(snapshot.root, { recursive: true, force: true });
}
