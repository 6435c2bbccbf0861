import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeys, runnerFingerprint, type CacheKeys, type RunnerFingerprint } from '../../src/cache/keys.js';
import type { Interpreter } from '../../src/python.js';

const interpreter = { version: '3.11.7', executable: '/usr/bin/python3', realpath: '/opt/py/3.11.7/bin/python3.11', basePrefix: '/opt/py/3.11.7' };
const base = {
  fingerprint: { os: 'linux', distro: 'ubuntu24.04', arch: 'x64' },
  interpreter,
  mode: 'cpu' as const,
  selection: { extras: ['cpu'], groups: [] },
  syncArgs: [],
  lockText: '[[package]]\nname = "torch"\n',
  suffix: '',
  venv: '/home/runner/work/p/p/.venv',
};

describe('cacheKeys', () => {
  it('puts the schema, runner, interpreter and mode in the restore prefix and the rest after it', () => {
    const keys = cacheKeys(base);
    expect(keys.restorePrefix).toMatch(/^setup-poetry-torch-v1-linux-ubuntu24\.04-x64-py3\.11\.7-[0-9a-f]{8}-at[0-9a-f]{8}-cpu-$/);
    expect(keys.primary.startsWith(keys.restorePrefix)).toBe(true);
    expect(keys.primary).toMatch(/-cpu-[0-9a-f]{8}-[0-9a-f]{16}$/);
  });

  it.each([
    ['lock', { lockText: base.lockText + 'x' }],
    ['mode', { mode: 'cuda' as const }],
    ['extras', { selection: { extras: ['cuda'], groups: ['cuda'] } }],
    ['sync-args', { syncArgs: ['--no-root'] }],
    ['interpreter path', { interpreter: { ...interpreter, realpath: '/other/python3.11' } }],
    ['interpreter version', { interpreter: { ...interpreter, version: '3.11.8' } }],
    ['distro', { fingerprint: { ...base.fingerprint, distro: 'ubuntu22.04' } }],
    ['arch', { fingerprint: { ...base.fingerprint, arch: 'arm64' } }],
    ['suffix', { suffix: 'torch-nightly' }],
    ['venv path', { venv: '/home/runner2/work/p/p/.venv' }],
  ])('changes the primary key when the %s changes', (_name, change) => {
    expect(cacheKeys({ ...base, ...change }).primary).not.toBe(cacheKeys(base).primary);
  });

  it('keeps the same restore prefix across lock changes, so a one-package change restores the torch install', () => {
    expect(cacheKeys({ ...base, lockText: 'other' }).restorePrefix).toBe(cacheKeys(base).restorePrefix);
  });

  it('ignores CRLF line endings in the lock (a Windows checkout)', () => {
    expect(cacheKeys({ ...base, lockText: base.lockText.replace(/\n/g, '\r\n') }).primary).toBe(cacheKeys(base).primary);
  });

  it('encodes a suffix with unsafe characters and keeps distinct suffixes distinct', () => {
    const a = cacheKeys({ ...base, suffix: 'a b/c' }).primary;
    const b = cacheKeys({ ...base, suffix: 'a_b_c' }).primary;
    expect(a).toMatch(/-a_b_c_[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
  });
});

describe('runnerFingerprint', () => {
  it('reads the distro from os-release under the given root', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'osrel-'));
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'os-release'), 'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="24.04"\n');
    expect(runnerFingerprint('linux', 'x64', root)).toEqual({ os: 'linux', distro: 'ubuntu24.04', arch: 'x64' });
  });

  it('names macOS by major release and Windows by platform', () => {
    expect(runnerFingerprint('darwin', 'arm64', '/', '24.1.0').distro).toBe('macos24');
    expect(runnerFingerprint('win32', 'x64').distro).toBe('win32');
  });
});

// Windows and macOS, by injecting the platform: this project's machines are Linux.
// setup-python's interpreters on the three hosted images (the Windows one as Python reports it).
const PYTHON: Record<'linux' | 'win32' | 'darwin', Interpreter> = {
  linux: {
    version: '3.12.10',
    executable: '/opt/hostedtoolcache/Python/3.12.10/x64/bin/python3',
    realpath: '/opt/hostedtoolcache/Python/3.12.10/x64/bin/python3.12',
    basePrefix: '/opt/hostedtoolcache/Python/3.12.10/x64',
  },
  win32: {
    version: '3.12.10',
    executable: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
    realpath: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
    basePrefix: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64',
  },
  darwin: {
    version: '3.12.10',
    executable: '/Users/runner/hostedtoolcache/Python/3.12.10/arm64/bin/python3',
    realpath: '/Users/runner/hostedtoolcache/Python/3.12.10/arm64/bin/python3.12',
    basePrefix: '/Users/runner/hostedtoolcache/Python/3.12.10/arm64',
  },
};

describe('cache keys per runner OS', () => {
  const lockText = '[[package]]\nname = "torch"\nversion = "2.13.0+cpu"\n';
  const keysFor = (fingerprint: RunnerFingerprint, interpreter: Interpreter): CacheKeys =>
    cacheKeys({ fingerprint, interpreter, mode: 'cpu', selection: { extras: ['cpu'], groups: [] }, syncArgs: [], lockText, suffix: '', venv: '/work/p/.venv' });

  function ubuntu(): RunnerFingerprint {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'os-release-'));
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'os-release'), 'ID=ubuntu\nVERSION_ID="24.04"\n');
    return runnerFingerprint('linux', 'x64', root);
  }

  const sha8 = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8);

  it('names Windows by platform and macOS by Darwin major, with the arch', () => {
    expect(runnerFingerprint('win32', 'x64')).toEqual({ os: 'win32', distro: 'win32', arch: 'x64' });
    expect(runnerFingerprint('win32', 'arm64')).toEqual({ os: 'win32', distro: 'win32', arch: 'arm64' });
    expect(runnerFingerprint('darwin', 'arm64', '/', '24.6.0')).toEqual({ os: 'darwin', distro: 'macos24', arch: 'arm64' });
  });

  it('hashes the Windows interpreter path as Python reports it, so no backslash or colon reaches the key', () => {
    const keys = keysFor(runnerFingerprint('win32', 'x64'), PYTHON.win32);
    expect(keys.restorePrefix).toBe(
      `setup-poetry-torch-v1-win32-win32-x64-py3.12.10-${sha8(PYTHON.win32.realpath)}-at${sha8(path.resolve('/work/p/.venv'))}-cpu-`,
    );
    expect(keys.primary).toMatch(/^[A-Za-z0-9._-]+$/);
    // @actions/cache rejects keys over 512 characters or with a comma.
    expect(keys.primary.length).toBeLessThanOrEqual(512);
  });

  it('gives macOS on Apple silicon and on Intel different keys', () => {
    const arm = keysFor(runnerFingerprint('darwin', 'arm64', '/', '24.6.0'), PYTHON.darwin);
    const intel = keysFor(runnerFingerprint('darwin', 'x64', '/', '24.6.0'), PYTHON.darwin);
    expect(arm.restorePrefix).toMatch(/^setup-poetry-torch-v1-darwin-macos24-arm64-py3\.12\.10-[0-9a-f]{8}-at[0-9a-f]{8}-cpu-$/);
    expect(intel.primary.startsWith(arm.restorePrefix)).toBe(false);
  });

  it('never lets one OS restore a venv saved on another, not even as a partial match', () => {
    // A venv is not portable across OSes (bin/ vs Scripts\, .so vs .pyd, absolute paths in
    // pyvenv.cfg and scripts), so the OS is the key's first segment after the schema, and the
    // action never passes enableCrossOsArchive (worker.test.ts).
    const keys = [
      keysFor(ubuntu(), PYTHON.linux),
      keysFor(runnerFingerprint('win32', 'x64'), PYTHON.win32),
      keysFor(runnerFingerprint('darwin', 'arm64', '/', '24.6.0'), PYTHON.darwin),
    ];
    for (const mine of keys) {
      for (const other of keys) {
        if (mine !== other) expect(other.primary.startsWith(mine.restorePrefix)).toBe(false);
      }
    }
    // Same interpreter version, same lock: only the runner differs.
    expect(new Set(keys.map((key) => key.primary)).size).toBe(3);
  });
});
