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
import type { CacheKeys, RunnerFingerprint } from '../src/cache.js';
import { nvidiaSmiCandidatesFor, type Detection } from '../src/detect.js';
import { ActionError } from '../src/errors.js';
import type { CommandResult, RunCommand } from '../src/exec.js';
import { locatePoetry } from '../src/poetry/install.js';
import { preflightCuda } from '../src/preflight.js';
import { loadProject } from '../src/project.js';
import { resolveInterpreter, venvPython, type Interpreter } from '../src/python.js';
import { venvProblem } from '../src/venv.js';

// Only the worker test below needs the library itself; the key functions never touch it.
const restoreCache = jest.fn(async (_paths: string[], _primaryKey: string, _restoreKeys?: string[]): Promise<string | undefined> => undefined);
const saveCache = jest.fn(async (_paths: string[], _key: string): Promise<number> => 7);
jest.unstable_mockModule('@actions/cache', () => ({ restoreCache, saveCache, isFeatureAvailable: () => true }));
const { cacheKeys, cacheWorkerMain, runnerFingerprint } = await import('../src/cache.js');

const tempDirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
const notFound = (file: string): CommandResult => ({ exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError: `spawn ${file} ENOENT` });

/** What src/probe.py prints for `interpreter`. */
function probeAnswer(interpreter: Interpreter): CommandResult {
  const report = { version: interpreter.version, executable: interpreter.executable, realpath: interpreter.realpath, base_prefix: interpreter.basePrefix };
  return ok(`SETUP_POETRY_TORCH_PROBE ${JSON.stringify(report)}\n`);
}

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

describe('the venv layout on Windows', () => {
  it.each([
    ['win32', ['Scripts', 'python.exe']],
    ['linux', ['bin', 'python']],
    ['darwin', ['bin', 'python']],
  ] as const)('venvPython on %s is <venv>/%j', (platform, segments) => {
    const venv = path.join(os.tmpdir(), 'project', '.venv');
    expect(venvPython(venv, platform)).toBe(path.join(venv, ...segments));
  });

  function venvWith(file: string[]): string {
    const venv = tempDir('win-venv-');
    fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), `home = ${PYTHON.win32.basePrefix}\n`);
    fs.mkdirSync(path.join(venv, ...file.slice(0, -1)), { recursive: true });
    fs.writeFileSync(path.join(venv, ...file), '');
    return venv;
  }

  it('trusts a restored venv whose Scripts\\python.exe runs on the same interpreter', async () => {
    const venv = venvWith(['Scripts', 'python.exe']);
    const calls: string[] = [];
    const run: RunCommand = async (file) => {
      calls.push(file);
      return probeAnswer(PYTHON.win32);
    };
    expect(await venvProblem(run, venv, PYTHON.win32, 'win32')).toBeUndefined();
    expect(calls).toEqual([path.join(venv, 'Scripts', 'python.exe')]);
  });

  it('rejects a venv with a POSIX layout (bin/python) on Windows without running it', async () => {
    const venv = venvWith(['bin', 'python']);
    const run: RunCommand = async (file) => {
      throw new Error(`${file} must not run`);
    };
    expect(await venvProblem(run, venv, PYTHON.win32, 'win32')).toMatch(/Scripts.python\.exe is missing/);
  });

  it('looks up a requested version as `python` only: Windows installs name no python3.12.exe', async () => {
    const calls: string[] = [];
    const run: RunCommand = async (file) => {
      calls.push(file);
      return probeAnswer(PYTHON.win32);
    };
    expect(await resolveInterpreter(run, '3.12', 'win32')).toEqual(PYTHON.win32);
    expect(calls).toEqual(['python']);
  });

  it('installs Poetry into its own venv and puts that Scripts folder on PATH', async () => {
    const toolDir = tempDir('win-tool-');
    const venv = path.join(toolDir, 'poetry', '2.5.1', 'venv');
    const poetryExe = path.join(venv, 'Scripts', 'poetry.exe');
    const calls: [string, string[]][] = [];
    const run: RunCommand = async (file, args) => {
      calls.push([file, args]);
      if (file === 'poetry') return notFound(file);
      return file === poetryExe ? ok('Poetry (version 2.5.1)\n') : ok();
    };
    const poetry = await locatePoetry(run, '2.5.1', PYTHON.win32.executable, toolDir, 'win32');
    expect(poetry).toEqual({ command: poetryExe, version: '2.5.1', installedByAction: true, binDir: path.join(venv, 'Scripts') });
    expect(calls.map(([file]) => file)).toEqual(['poetry', PYTHON.win32.executable, path.join(venv, 'Scripts', 'python.exe'), poetryExe]);
  });

  it('on Linux and macOS exposes Poetry through a bin/ of its own instead, so the venv python stays off PATH', async () => {
    const toolDir = tempDir('posix-tool-');
    const home = path.join(toolDir, 'poetry', '2.5.1');
    const poetryBin = path.join(home, 'venv', 'bin', 'poetry');
    const run: RunCommand = async (file) => {
      if (file === 'poetry') return notFound(file);
      return file === poetryBin ? ok('Poetry (version 2.5.1)\n') : ok();
    };
    const poetry = await locatePoetry(run, '2.5.1', PYTHON.darwin.executable, toolDir, 'darwin');
    expect(poetry).toEqual({ command: poetryBin, version: '2.5.1', installedByAction: true, binDir: path.join(home, 'bin') });
    expect(fs.readdirSync(path.join(home, 'bin'))).toEqual(['poetry']);
    expect(fs.readlinkSync(path.join(home, 'bin', 'poetry'))).toBe(poetryBin);
  });
});

describe('nvidia-smi candidates', () => {
  it.each([
    [
      'win32',
      { SystemRoot: 'D:\\WINDOWS' },
      ['nvidia-smi.exe', 'D:\\WINDOWS\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'],
    ],
    ['win32', {}, ['nvidia-smi.exe', 'C:\\Windows\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe']],
    ['linux', { SystemRoot: 'C:\\Windows' }, ['nvidia-smi']],
    ['darwin', {}, ['nvidia-smi']],
  ] as const)('on %s with %j', (platform, env, expected) => {
    expect(nvidiaSmiCandidatesFor(platform, env)).toEqual(expected);
  });
});

describe('cache keys per runner OS', () => {
  const lockText = '[[package]]\nname = "torch"\nversion = "2.13.0+cpu"\n';
  const keysFor = (fingerprint: RunnerFingerprint, interpreter: Interpreter): CacheKeys =>
    cacheKeys({ fingerprint, interpreter, mode: 'cpu', selection: { extras: ['cpu'], groups: [] }, syncArgs: [], lockText, suffix: '' });

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
    expect(keys.restorePrefix).toBe(`setup-poetry-torch-v1-win32-win32-x64-py3.12.10-${sha8(PYTHON.win32.realpath)}-cpu-`);
    expect(keys.primary).toMatch(/^[A-Za-z0-9._-]+$/);
    // @actions/cache rejects keys over 512 characters or with a comma.
    expect(keys.primary.length).toBeLessThanOrEqual(512);
  });

  it('gives macOS on Apple silicon and on Intel different keys', () => {
    const arm = keysFor(runnerFingerprint('darwin', 'arm64', '/', '24.6.0'), PYTHON.darwin);
    const intel = keysFor(runnerFingerprint('darwin', 'x64', '/', '24.6.0'), PYTHON.darwin);
    expect(arm.restorePrefix).toMatch(/^setup-poetry-torch-v1-darwin-macos24-arm64-py3\.12\.10-[0-9a-f]{8}-cpu-$/);
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
    ['restore', { op: 'restore', venv: venv[0], keys: { primary: 'setup-poetry-torch-v1-x', restorePrefix: 'setup-poetry-torch-v1-' } }],
    ['save', { op: 'save', venv: venv[0], key: 'setup-poetry-torch-v1-x' }],
  ])('the %s worker leaves enableCrossOsArchive at its default (false)', async (op, request) => {
    // Windows venvs must stay Windows-only: the library's own wall backs up the OS in our key.
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await cacheWorkerMain({ SETUP_POETRY_TORCH_CACHE_WORKER: JSON.stringify(request) });
    } finally {
      write.mockRestore();
    }
    if (op === 'restore') expect(restoreCache).toHaveBeenLastCalledWith(venv, 'setup-poetry-torch-v1-x', ['setup-poetry-torch-v1-']);
    else expect(saveCache).toHaveBeenLastCalledWith(venv, 'setup-poetry-torch-v1-x');
  });
});

describe('cuda mode on macOS', () => {
  const seed = fs.readFileSync(new URL('../examples/seed/pyproject.toml', import.meta.url), 'utf8');

  function cudaLockedProject() {
    const dir = tempDir('macos-cuda-');
    fs.writeFileSync(path.join(dir, 'pyproject.toml'), seed);
    fs.writeFileSync(
      path.join(dir, 'poetry.lock'),
      '[[package]]\nname = "torch"\nversion = "2.14.1+cu130"\n[package.source]\ntype = "legacy"\nurl = "https://download.pytorch.org/whl/cu130"\nreference = "pytorch-cuda"\n',
    );
    return loadProject(dir);
  }
  const noGpu: Detection = { cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason: 'no CUDA on macOS' };

  it.each([true, false])('fails before any download, whatever expect-cuda says (%s)', (expectCuda) => {
    let error: unknown;
    try {
      preflightCuda(cudaLockedProject(), noGpu, expectCuda, 'darwin');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).title).toBe('No CUDA on macOS');
    expect((error as ActionError).message).toMatch(/PyTorch publishes no CUDA builds for macOS: use mode: cpu/);
  });

  it('lets the same lock through on a Windows runner that only checks the build installs', () => {
    expect(() => {
      preflightCuda(cudaLockedProject(), { ...noGpu, reason: 'no NVIDIA driver' }, false, 'win32');
    }).not.toThrow();
  });
});
