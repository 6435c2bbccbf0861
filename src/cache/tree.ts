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
 * ctime cannot serve: linking the file into a project changes it.
 */
export type Manifest = Record<string, string>;

export function recordTree(root: string): Manifest {
  const manifest: Manifest = {};
  const walk = (dir: string, prefix: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const name = prefix + entry.name;
      if (entry.isDirectory()) {
        manifest[name + '/'] = 'dir';
        walk(full, name + '/');
      } else if (entry.isSymbolicLink()) manifest[name] = `link:${fs.readlinkSync(full)}`;
      else {
        const stat = fs.lstatSync(full, { bigint: true });
        manifest[name] = `${stat.size}:${stat.mtimeNs}:${stat.ino}`;
      }
    }
  };
  walk(root, '');
  return manifest;
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

/** Apparent size of the files, each inode counted once. */
export function treeBytes(root: string): number {
  const seen = new Set<bigint>();
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const stat = fs.lstatSync(full, { bigint: true });
        if (seen.has(stat.ino)) continue;
        seen.add(stat.ino);
        bytes += Number(stat.size);
      }
    }
  };
  walk(root);
  return bytes;
}

/** Writes a file by rename, so a file that is a hardlink into a store entry is replaced, not changed in place. */
export function replaceFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, file);
}
