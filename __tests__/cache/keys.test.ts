import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeys, runnerFingerprint } from '../../src/cache/keys.js';

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
