import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Venv trees without copying file contents: hardlinks on one filesystem; across filesystems
 * (or where the kernel refuses a link, e.g. protected_hardlinks) a reflink where the filesystem
 * has them, else a plain copy.
 */

export interface LinkStats {
  files: number;
  linked: number;
  copied: number;
  copiedBytes: number;
}

export function linkTree(source: string, target: string, stats: LinkStats = { files: 0, linked: 0, copied: 0, copiedBytes: 0 }): LinkStats {
  fs.mkdirSync(target, { mode: fs.statSync(source).mode & 0o7777 });
  for (const entry of fs.readdirSync(source, { withFileTypes: true })) {
    const from = path.join(source, entry.name);
    const to = path.join(target, entry.name);
    if (entry.isDirectory()) linkTree(from, to, stats);
    else if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
    else {
      stats.files += 1;
      if (linkFile(from, to)) stats.linked += 1;
      else {
        stats.copied += 1;
        stats.copiedBytes += fs.statSync(to).size;
      }
    }
  }
  return stats;
}

/** True when linked, false when copied. */
function linkFile(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw error;
    fs.copyFileSync(from, to, fs.constants.COPYFILE_FICLONE);
    return false;
  }
}

/**
 * What each file was when recorded: size, mtime and inode. A write through a hardlink (a later
 * step editing the venv in place) changes size or mtime; a replaced file has a new inode. The
 * ctime cannot serve: linking the file into a project changes it. Plain (not bigint) stats: the
 * same file always reports the same numbers, and this walk runs inside the step.
 */
export type Manifest = Record<string, string>;

const fileStamp = (stat: fs.Stats): string => `${stat.size}:${stat.mtimeMs}:${stat.ino}`;

export function recordTree(root: string): Manifest {
  const manifest: Manifest = {};
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = `${dir}/${entry.name}`;
      const name = prefix + entry.name;
      if (entry.isDirectory()) {
        manifest[name + '/'] = 'dir';
        walk(full, name + '/');
      } else if (entry.isSymbolicLink()) manifest[name] = `link:${fs.readlinkSync(full)}`;
      else manifest[name] = fileStamp(fs.lstatSync(full));
    }
  };
  walk(root, '');
  return manifest;
}

/** Apparent size of a manifest's files, each inode counted once (no walk). */
export function manifestBytes(manifest: Manifest): number {
  const seen = new Set<string>();
  let bytes = 0;
  for (const value of Object.values(manifest)) {
    const [size, , ino] = value.split(':');
    if (value === 'dir' || value.startsWith('link:') || seen.has(ino)) continue;
    seen.add(ino);
    bytes += Number(size);
  }
  return bytes;
}

/**
 * Builds `target` from exactly the manifest's entries of `source`, linking each file and checking
 * that what it linked is what the manifest recorded. Files added to the source since are left out;
 * a file replaced or written since is a change, and the tree is then incomplete: the caller drops it.
 */
export function linkFromManifest(source: string, manifest: Manifest, target: string): { stats: LinkStats; change?: string } {
  const stats: LinkStats = { files: 0, linked: 0, copied: 0, copiedBytes: 0 };
  fs.mkdirSync(target, { recursive: true });
  // Sorted: a directory's name is a prefix of its children's, so it is made first.
  for (const name of Object.keys(manifest).sort()) {
    const value = manifest[name];
    const from = `${source}/${name}`;
    const to = `${target}/${name}`;
    try {
      if (value === 'dir') fs.mkdirSync(to.slice(0, -1), { mode: fs.statSync(from).mode & 0o7777 });
      else if (value.startsWith('link:')) fs.symlinkSync(value.slice('link:'.length), to);
      else {
        stats.files += 1;
        if (linkFile(from, to)) {
          stats.linked += 1;
          // The link shares the source's inode: the stamp tells whether it is still the verified file.
          if (fileStamp(fs.lstatSync(to)) !== value) return { stats, change: `${name} changed` };
        } else {
          stats.copied += 1;
          stats.copiedBytes += fs.statSync(to).size;
          if (fileStamp(fs.lstatSync(from)) !== value) return { stats, change: `${name} changed` };
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { stats, change: `${name} is gone` };
      throw error;
    }
  }
  return { stats };
}

/** The first difference between the tree and its manifest, or undefined when there is none. */
export function treeChange(root: string, manifest: Manifest): string | undefined {
  let current: Manifest;
  try {
    current = recordTree(root);
  } catch (error) {
    return (error as Error).message;
  }
  for (const [name, value] of Object.entries(manifest)) {
    if (current[name] === undefined) return `${name} is gone`;
    if (current[name] !== value) return `${name} changed`;
  }
  const added = Object.keys(current).find((name) => manifest[name] === undefined);
  return added ? `${added} was added` : undefined;
}

/** Writes a file by rename, so a file that is a hardlink into a store entry is replaced, not changed in place. */
export function replaceFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}
