import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildSnapshot,
  dropSnapshot,
  finishSnapshot,
  prepareSnapshot,
  readManifest,
  readVenvKey,
  recordLinker,
  snapshotChange,
  snapshotManifest,
  writeVenvKey,
  type Snapshot,
} from '../../src/cache/snapshot.js';
import { startSnapshotLinker } from '../../src/cache/worker.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function workspaceWithVenv(): { workspace: string; venv: string } {
  const workspace = tempDir();
  const venv = path.join(workspace, 'project', '.venv');
  fs.mkdirSync(path.join(venv, 'lib', 'pkg'), { recursive: true });
  fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
  fs.writeFileSync(path.join(venv, 'lib', 'pkg', '__init__.py'), 'VERSION = 1\n');
  return { workspace, venv };
}

describe('the key a venv was verified for', () => {
  it('round-trips, and reads as undefined where there is none', () => {
    const { venv } = workspaceWithVenv();
    expect(readVenvKey(venv)).toBeUndefined();
    writeVenvKey(venv, 'k1');
    expect(readVenvKey(venv)).toBe('k1');
    const inode = fs.statSync(path.join(venv, '.setup-poetry-torch-key')).ino;
    writeVenvKey(venv, 'k1');
    expect(fs.statSync(path.join(venv, '.setup-poetry-torch-key')).ino).toBe(inode);
  });
});

/** Record and link at once, as the background linker does when nothing happens in between. */
function takeSnapshot(venv: string, workspace: string, parent: string): Snapshot & { stats: unknown } {
  const snapshot = prepareSnapshot(venv, workspace, parent);
  const done = buildSnapshot(venv, snapshot);
  expect(done.change).toBeUndefined();
  return { ...snapshot, stats: done.stats };
}

describe('prepareSnapshot, then buildSnapshot', () => {
  it('lays the venv out at its own path relative to a mirrored workspace, by hardlinks', () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = takeSnapshot(venv, workspace, tempDir());
    expect(path.relative(snapshot.workspace, snapshot.venv)).toBe(path.relative(workspace, venv));
    expect(snapshot.stats).toMatchObject({ files: 2, linked: 2, copied: 0 });
    expect(fs.statSync(path.join(snapshot.venv, 'pyvenv.cfg')).ino).toBe(fs.statSync(path.join(venv, 'pyvenv.cfg')).ino);
    expect(snapshotChange(snapshot)).toBeUndefined();
    dropSnapshot(snapshot);
    expect(fs.existsSync(snapshot.root)).toBe(false);
    expect(fs.existsSync(path.join(venv, 'pyvenv.cfg'))).toBe(true);
  });

  it('stays as verified when a later step adds, replaces or removes files in the venv', () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = takeSnapshot(venv, workspace, tempDir());
    fs.writeFileSync(path.join(venv, 'lib', 'extra.py'), 'x\n');
    writeVenvKey(venv, 'other'); // by rename: a new inode
    fs.rmSync(path.join(venv, 'pyvenv.cfg'));
    expect(snapshotChange(snapshot)).toBeUndefined();
    expect(fs.readFileSync(path.join(snapshot.venv, 'pyvenv.cfg'), 'utf8')).toBe('home = /usr/bin\n');
  });

  it('reports a write in place through the shared inode', () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = takeSnapshot(venv, workspace, tempDir());
    fs.appendFileSync(path.join(venv, 'lib', 'pkg', '__init__.py'), 'PATCHED = True\n');
    expect(snapshotChange(snapshot)).toBe('lib/pkg/__init__.py changed');
  });

  // pip replaces the files it installs (a new inode each), so a later `pip install --upgrade`
  // leaves the snapshot as verified. Checked with the real pip on a real venv.
  it('is unchanged by a real pip reinstall in the venv', () => {
    const workspace = tempDir();
    const venv = path.join(workspace, '.venv');
    execFileSync('python3', ['-m', 'venv', '--without-pip', venv]);
    const wheels = (version: string, text: string): string => {
      const dir = tempDir();
      execFileSync('python3', [fileURLToPath(new URL('../fixtures/make-wheel.py', import.meta.url)), dir, 'demo', version, text]);
      return path.join(dir, `demo-${version}-py3-none-any.whl`);
    };
    const pip = ['-m', 'pip', '--python', path.join(venv, 'bin', 'python'), '--disable-pip-version-check', '-q', 'install', '--no-index'];
    execFileSync('python3', [...pip, wheels('1', 'VERSION = 1\n')]);
    const snapshot = takeSnapshot(venv, workspace, tempDir());
    execFileSync('python3', [...pip, wheels('2', 'VERSION = 2\n')]);
    const site = fs.readdirSync(path.join(snapshot.venv, 'lib'))[0];
    const installed = (root: string): string => fs.readFileSync(path.join(root, 'lib', site, 'site-packages', 'demo', '__init__.py'), 'utf8');
    expect(installed(venv)).toBe('VERSION = 2\n');
    expect(installed(snapshot.venv)).toBe('VERSION = 1\n');
    expect(snapshotChange(snapshot)).toBeUndefined();
  }, 60_000);
});

describe('the snapshot is built after the step, checked against what was verified', () => {
  it('leaves out files added after verification', () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    fs.writeFileSync(path.join(venv, 'lib', 'added-later.py'), 'x\n');
    expect(buildSnapshot(venv, snapshot)).toMatchObject({ stats: { files: 2, linked: 2 } });
    expect(fs.existsSync(path.join(snapshot.venv, 'lib', 'added-later.py'))).toBe(false);
    expect(snapshotChange(snapshot)).toBeUndefined();
  });

  it('reports a verified file replaced before it was linked: the snapshot is not what was verified', () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    fs.rmSync(path.join(venv, 'lib', 'pkg', '__init__.py'));
    fs.writeFileSync(path.join(venv, 'lib', 'pkg', '__init__.py'), 'VERSION = 2\n');
    expect(buildSnapshot(venv, snapshot).change).toBe('lib/pkg/__init__.py changed');
    fs.rmSync(path.join(venv, 'pyvenv.cfg'));
    expect(buildSnapshot(venv, snapshot).change).toMatch(/is gone|changed/);
  });

  it('is finished in the post step when no linker ran (its process is gone)', async () => {
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    recordLinker(snapshot.root, 2 ** 22 + 12345); // above pid_max's default: no such process
    const done = await finishSnapshot(venv, snapshot, 5_000);
    expect(done).toMatchObject({ stats: { files: 2, linked: 2 } });
    expect(fs.readFileSync(path.join(snapshot.venv, 'pyvenv.cfg'), 'utf8')).toBe('home = /usr/bin\n');
  });

  it('is linked by the real background linker (the bundled cache worker) while the caller goes on', async () => {
    const entry = fileURLToPath(new URL('../../dist/cache-worker.js', import.meta.url));
    const { workspace, venv } = workspaceWithVenv();
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    expect(startSnapshotLinker(venv, snapshot, entry)).toBeUndefined();
    const done = await finishSnapshot(venv, snapshot, 30_000);
    expect(done).toMatchObject({ stats: { files: 2, linked: 2 } });
    expect(fs.readFileSync(path.join(snapshot.root, 'pid'), 'utf8')).toMatch(/^\d+$/);
    expect(fs.statSync(path.join(snapshot.venv, 'pyvenv.cfg')).ino).toBe(fs.statSync(path.join(venv, 'pyvenv.cfg')).ino);
  }, 40_000);
});

describe('a snapshot across filesystems (copied, not linked)', () => {
  // /dev/shm is a tmpfs here, another filesystem than the temp dir: link() fails with EXDEV, as it
  // does from a bind-mounted workspace, and the files are copied.
  const otherFs = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(os.tmpdir()).dev;
  (otherFs ? it : it.skip)('records the copies as the snapshot, so the post step does not take them for changed files', () => {
    const workspace = fs.mkdtempSync(path.join('/dev/shm', 'snapshot-ws-'));
    dirs.push(workspace);
    const venv = path.join(workspace, '.venv');
    fs.mkdirSync(path.join(venv, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
    const snapshot = prepareSnapshot(venv, workspace, tempDir());
    expect(buildSnapshot(venv, snapshot)).toMatchObject({ stats: { files: 1, linked: 0, copied: 1 } });
    expect(snapshotChange(snapshot)).toBeUndefined();
    expect(snapshotManifest(snapshot.root)).not.toEqual(readManifest(snapshot.root));
    fs.appendFileSync(path.join(snapshot.venv, 'pyvenv.cfg'), 'x');
    expect(snapshotChange(snapshot)).toBe('pyvenv.cfg changed');
  });
});
