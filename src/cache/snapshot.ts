import * as fs from 'node:fs';
import * as path from 'node:path';
import { linkTree, recordTree, replaceFile, treeChange, type LinkStats, type Manifest } from './tree.js';

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
  stats: LinkStats;
}

/**
 * What the post step saves: the venv exactly as verified, as a hardlink tree (no file contents
 * copied on one filesystem) with a manifest. A later step that replaces files (pip does, new
 * inodes) leaves the snapshot as it was; one that writes a file in place changes the shared inode,
 * which the manifest catches before anything is saved.
 */
export function takeSnapshot(venv: string, workspace: string, tempDir: string): Snapshot {
  fs.mkdirSync(tempDir, { recursive: true });
  const root = fs.mkdtempSync(path.join(tempDir, 'setup-poetry-torch-snapshot-'));
  try {
    const tree = path.join(root, 'tree');
    const copy = underRoot(tree, venv);
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    const stats = linkTree(venv, copy);
    fs.writeFileSync(path.join(root, 'manifest.json'), JSON.stringify(recordTree(copy)));
    const mirroredWorkspace = underRoot(tree, workspace);
    fs.mkdirSync(mirroredWorkspace, { recursive: true });
    return { root, venv: copy, workspace: mirroredWorkspace, stats };
  } catch (error) {
    // Copied across filesystems into a full one (ENOSPC): nothing half-written stays behind.
    fs.rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** How the snapshot differs from what was verified, or undefined when it is intact. */
export function snapshotChange(snapshot: Pick<Snapshot, 'root' | 'venv'>): string | undefined {
  try {
    return treeChange(snapshot.venv, JSON.parse(fs.readFileSync(path.join(snapshot.root, 'manifest.json'), 'utf8')) as Manifest);
  } catch (error) {
    return (error as Error).message;
  }
}

export function dropSnapshot(snapshot: Pick<Snapshot, 'root'>): void {
  fs.rmSync(snapshot.root, { recursive: true, force: true });
}
