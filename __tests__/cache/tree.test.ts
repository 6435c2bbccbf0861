import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { linkFromManifest, linkTree, manifestBytes, recordTree, replaceFile, treeChange } from '../../src/cache/tree.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A small venv-shaped tree: nested files, an executable, a symlink to the interpreter. */
function venvTree(root: string): string {
  const venv = path.join(root, 'venv');
  fs.mkdirSync(path.join(venv, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(venv, 'lib', 'site-packages', 'torch'), { recursive: true });
  fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
  fs.writeFileSync(path.join(venv, 'lib', 'site-packages', 'torch', '__init__.py'), 'x = 1\n');
  fs.writeFileSync(path.join(venv, 'bin', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('/usr/bin/python3', path.join(venv, 'bin', 'python'));
  return venv;
}

describe('linkTree', () => {
  it('links every file (same inode, nothing copied), keeps symlinks as links and modes', () => {
    const root = tempDir();
    const venv = venvTree(root);
    const stats = linkTree(venv, path.join(root, 'copy'));
    expect(stats).toEqual({ files: 3, linked: 3, copied: 0, copiedBytes: 0 });
    const init = 'lib/site-packages/torch/__init__.py';
    expect(fs.statSync(path.join(root, 'copy', init)).ino).toBe(fs.statSync(path.join(venv, init)).ino);
    expect(fs.readlinkSync(path.join(root, 'copy', 'bin', 'python'))).toBe('/usr/bin/python3');
    expect(fs.statSync(path.join(root, 'copy', 'bin', 'tool')).mode & 0o111).toBe(0o111);
  });

  // A real second filesystem (/dev/shm) where the machine has one; skipped where it has not.
  const otherFs = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev;
  (otherFs ? it : it.skip)('copies across filesystems, where no link can be made', () => {
    const root = tempDir();
    const venv = venvTree(root);
    const target = fs.mkdtempSync('/dev/shm/tree-');
    dirs.push(target);
    const stats = linkTree(venv, path.join(target, 'copy'));
    expect(stats.linked).toBe(0);
    expect(stats.copied).toBe(3);
    expect(fs.readFileSync(path.join(target, 'copy', 'pyvenv.cfg'), 'utf8')).toBe('home = /usr/bin\n');
  });
});

describe('recordTree and treeChange', () => {
  it('finds nothing in an untouched tree, even after it was linked elsewhere (which changes ctime)', () => {
    const venv = venvTree(tempDir());
    const manifest = recordTree(venv);
    linkTree(venv, `${venv}-linked`);
    expect(treeChange(venv, manifest)).toBeUndefined();
  });

  it.each([
    ['a write through a hardlink', (venv: string) => fs.appendFileSync(path.join(`${venv}-linked`, 'lib/site-packages/torch/__init__.py'), 'y = 2\n')],
    [
      'a same-size write with a new mtime',
      (venv: string) => {
        const file = path.join(venv, 'pyvenv.cfg');
        fs.writeFileSync(file, 'home = /usr/sbi\n');
        fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
      },
    ],
    ['a replaced file (new inode)', (venv: string) => replaceFile(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n')],
    ['a removed file', (venv: string) => fs.rmSync(path.join(venv, 'bin', 'tool'))],
    ['an added file', (venv: string) => fs.writeFileSync(path.join(venv, 'lib', 'evil.pth'), 'import os\n')],
    [
      'a retargeted symlink',
      (venv: string) => {
        fs.rmSync(path.join(venv, 'bin', 'python'));
        fs.symlinkSync('/tmp/python', path.join(venv, 'bin', 'python'));
      },
    ],
  ])('reports %s', (_name, change) => {
    const venv = venvTree(tempDir());
    const manifest = recordTree(venv);
    linkTree(venv, `${venv}-linked`);
    change(venv);
    expect(treeChange(venv, manifest)).toMatch(/changed|gone|added/);
  });
});

describe('manifestBytes', () => {
  it('adds the sizes of the files, each inode once, from the manifest alone', () => {
    const venv = venvTree(tempDir());
    fs.linkSync(path.join(venv, 'pyvenv.cfg'), path.join(venv, 'again.cfg'));
    expect(manifestBytes(recordTree(venv))).toBe('home = /usr/bin\n'.length + 'x = 1\n'.length + '#!/bin/sh\n'.length);
  });
});

describe('linkFromManifest', () => {
  it('links exactly the recorded files, symlinks and directories, and leaves out what was added since', () => {
    const root = tempDir();
    const venv = venvTree(root);
    const manifest = recordTree(venv);
    fs.writeFileSync(path.join(venv, 'bin', 'added-later'), 'x');
    const { stats, change } = linkFromManifest(venv, manifest, path.join(root, 'copy'));
    expect(change).toBeUndefined();
    expect(stats).toMatchObject({ files: 3, linked: 3, copied: 0 });
    expect(recordTree(path.join(root, 'copy'))).toEqual(manifest);
    expect(fs.readlinkSync(path.join(root, 'copy', 'bin', 'python'))).toBe('/usr/bin/python3');
  });

  it('stops at a file written in place or replaced since it was recorded', () => {
    const root = tempDir();
    const venv = venvTree(root);
    const manifest = recordTree(venv);
    fs.appendFileSync(path.join(venv, 'pyvenv.cfg'), 'x');
    expect(linkFromManifest(venv, manifest, path.join(root, 'a')).change).toBe('pyvenv.cfg changed');
    const again = recordTree(venv);
    fs.rmSync(path.join(venv, 'bin', 'tool'));
    expect(linkFromManifest(venv, again, path.join(root, 'b')).change).toBe('bin/tool is gone');
  });
});

describe('replaceFile', () => {
  it('gives the file a new inode, so a store entry linked to the old one keeps its content', () => {
    const dir = tempDir();
    const file = path.join(dir, 'key');
    fs.writeFileSync(file, 'old\n');
    fs.linkSync(file, path.join(dir, 'entry-key'));
    replaceFile(file, 'new\n');
    expect(fs.readFileSync(path.join(dir, 'entry-key'), 'utf8')).toBe('old\n');
    expect(fs.readFileSync(file, 'utf8')).toBe('new\n');
  });
});
