// Windows and macOS paths, exercised here by injecting the platform: this project's machines are
// Linux, so these tests (and .github/workflows/e2e.yml on hosted runners) are all that cover them.
// See docs/platforms.md.
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getCacheVersion } from '../node_modules/@actions/cache/lib/internal/cacheUtils.js';
import { CompressionMethod } from '../node_modules/@actions/cache/lib/internal/constants.js';
import type { CacheKeys, RunnerFingerprint } from '../src/cache/keys.js';
import type { Interpreter } from '../src/python.js';

// Only the worker test below needs the library itself; the key functions never touch it.
const restoreCache = jest.fn(
  async (_paths: string[], _primaryKey: string, _restoreKeys?: string[], _options?: object): Promise<string | undefined> => undefined,
);
const saveCache = jest.fn(async (_paths: string[], _key: string): Promise<number> => 7);
jest.unstable_mockModule('@actions/cache', () => ({ restoreCache, saveCache, isFeatureAvailable: () => true }));
const { cacheKeys, runnerFingerprint } = await import('../src/cache/keys.js');
const { restoreRequest, saveRequest, workerMain } = await import('../src/cache/worker.js');

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

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
    const root = tempDir('os-release-');
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
    // action must never pass enableCrossOsArchive (see the next describe).
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

describe("the cache library's version on Windows", () => {
  /** The library reads process.platform itself, so this sets it around one pure hash. */
  function onPlatform<T>(platform: NodeJS.Platform, work: () => T): T {
    const original = Object.getOwnPropertyDescriptor(process, 'platform');
    Object.defineProperty(process, 'platform', { value: platform });
    try {
      return work();
    } finally {
      if (original) Object.defineProperty(process, 'platform', original);
    }
  }
  const venv = ['/home/runner/work/p/p/.venv'];

  it("salts Windows entries with 'windows-only' unless enableCrossOsArchive is set", () => {
    const linux = onPlatform('linux', () => getCacheVersion(venv, CompressionMethod.ZstdWithoutLong));
    const windows = onPlatform('win32', () => getCacheVersion(venv, CompressionMethod.ZstdWithoutLong));
    const windowsCrossOs = onPlatform('win32', () => getCacheVersion(venv, CompressionMethod.ZstdWithoutLong, true));
    expect(windows).not.toBe(linux);
    expect(windowsCrossOs).toBe(linux);
    expect(onPlatform('darwin', () => getCacheVersion(venv, CompressionMethod.ZstdWithoutLong))).toBe(linux);
  });

  it.each([
    ['restore', restoreRequest(venv[0], 'setup-poetry-torch-v1-x', ['setup-poetry-torch-v1-'], 60_000)],
    ['save', saveRequest(venv[0], 'setup-poetry-torch-v1-x')],
  ])('the %s worker leaves enableCrossOsArchive at its default (false)', async (op, request) => {
    // Windows venvs must stay Windows-only: the library's own wall backs up the OS in our key.
    await workerMain({ SETUP_POETRY_TORCH_CACHE_WORKER: JSON.stringify(request) }, () => {});
    // No fifth argument (enableCrossOsArchive) to either call.
    if (op === 'restore')
      expect(restoreCache).toHaveBeenLastCalledWith(
        venv,
        'setup-poetry-torch-v1-x',
        ['setup-poetry-torch-v1-'],
        expect.objectContaining({ lookupOnly: false }),
      );
    else expect(saveCache).toHaveBeenLastCalledWith(venv, 'setup-poetry-torch-v1-x');
  });
});
