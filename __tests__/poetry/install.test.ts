import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CommandResult, RunCommand } from '../../src/exec.js';
import { locatePoetry, parsePoetryVersion, poetryEnvironment, poetryScriptVersion } from '../../src/poetry/install.js';

// Console scripts as pip and pipx write them; the versions come from the dist-info, not a Poetry run.
let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'poetry-script-'));
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

function fakeVenv(dir: string, version: string | undefined): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'pyvenv.cfg'), 'home = /usr/bin\n');
  fs.writeFileSync(path.join(dir, 'bin', 'python'), '');
  const site = path.join(dir, 'lib', 'python3.12', 'site-packages');
  fs.mkdirSync(path.join(site, 'poetry_core-2.1.0.dist-info'), { recursive: true });
  fs.writeFileSync(path.join(site, 'poetry_core-2.1.0.dist-info', 'METADATA'), 'Name: poetry-core\nVersion: 2.1.0\n');
  if (version) {
    fs.mkdirSync(path.join(site, `poetry-${version}.dist-info`));
    fs.writeFileSync(path.join(site, `poetry-${version}.dist-info`, 'METADATA'), `Metadata-Version: 2.3\nName: poetry\nVersion: ${version}\n`);
  }
  return path.join(dir, 'bin', 'python');
}

function script(file: string, firstLines: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `${firstLines}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom poetry.console.application import main\nif __name__ == '__main__':\n    sys.exit(main())\n`,
    { mode: 0o755 },
  );
  return file;
}

describe('poetryScriptVersion', () => {
  it('reads the version beside the interpreter of a #! script', () => {
    const python = fakeVenv(path.join(root, 'venv'), '2.5.1');
    expect(poetryScriptVersion(script(path.join(root, 'venv', 'bin', 'poetry'), `#!${python}`))).toBe('2.5.1');
  });

  it("follows pip's /bin/sh trampoline for long or spaced interpreter paths, and symlinks (pipx)", () => {
    const python = fakeVenv(path.join(root, 'a venv'), '1.8.5');
    const target = script(path.join(root, 'a venv', 'bin', 'poetry'), `#!/bin/sh\n'''exec' "${python}" "$0" "$@"\n' '''`);
    fs.mkdirSync(path.join(root, 'local-bin'));
    fs.symlinkSync(target, path.join(root, 'local-bin', 'poetry'));
    expect(poetryScriptVersion(path.join(root, 'local-bin', 'poetry'))).toBe('1.8.5');
  });

  it('gives up on shims, missing interpreters, non-venvs and venvs without poetry', () => {
    const python = fakeVenv(path.join(root, 'venv'), '2.5.1');
    expect(poetryScriptVersion(script(path.join(root, 'shim'), '#!/bin/bash\nexec pyenv exec poetry "$@"'))).toBeUndefined();
    expect(poetryScriptVersion(script(path.join(root, 'gone'), `#!${path.join(root, 'nowhere', 'bin', 'python')}`))).toBeUndefined();
    fs.rmSync(path.join(root, 'venv', 'pyvenv.cfg'));
    expect(poetryScriptVersion(script(path.join(root, 'not-venv'), `#!${python}`))).toBeUndefined();
    const bare = fakeVenv(path.join(root, 'bare'), undefined);
    expect(poetryScriptVersion(script(path.join(root, 'bare-poetry'), `#!${bare}`))).toBeUndefined();
    expect(poetryScriptVersion(path.join(root, 'missing'))).toBeUndefined();
    expect(poetryScriptVersion(undefined)).toBeUndefined();
  });
});

describe('parsePoetryVersion', () => {
  it.each([
    ['Poetry (version 2.5.1)', '2.5.1'],
    ['Poetry version 1.8.5', '1.8.5'],
    ['Poetry (version 2.5.0.dev0)', '2.5.0.dev0'],
    ['command not found', undefined],
  ])('%j -> %j', (text, version) => expect(parsePoetryVersion(text)).toBe(version));
});

describe('poetryEnvironment', () => {
  it.each([
    ['2.0.1', 'false'],
    ['2.2.1', 'false'],
    ['2.3.0', undefined],
    ['1.8.5', undefined],
  ])('Poetry %s: POETRY_INSTALLER_RE_RESOLVE=%s (exclusive extras need it off before 2.3)', (version, expected) => {
    expect(poetryEnvironment(version, {}, true).POETRY_INSTALLER_RE_RESOLVE).toBe(expected);
  });

  it('keeps a keyring backend the user chose and puts the venv in the project only when asked', () => {
    expect(poetryEnvironment('2.5.1', { PYTHON_KEYRING_BACKEND: 'mine' }, false)).toMatchObject({ PYTHON_KEYRING_BACKEND: 'mine', POETRY_NO_INTERACTION: '1' });
    expect(poetryEnvironment('2.5.1', {}, false).POETRY_VIRTUALENVS_IN_PROJECT).toBeUndefined();
    expect(poetryEnvironment('2.5.1', {}, true).POETRY_VIRTUALENVS_IN_PROJECT).toBe('true');
  });
});

describe('locatePoetry on Windows and macOS (platform injected)', () => {
  // setup-python's interpreters on the hosted images (the Windows one as Python reports it).
  const WINDOWS_PYTHON = 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe';
  const MACOS_PYTHON = '/Users/runner/hostedtoolcache/Python/3.12.10/arm64/bin/python3';
  const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
  const notFound = (file: string): CommandResult => ({ exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError: `spawn ${file} ENOENT` });

  it('installs Poetry into its own venv and puts that Scripts folder on PATH', async () => {
    const toolDir = path.join(root, 'win-tool');
    const venv = path.join(toolDir, 'poetry', '2.5.1', 'venv');
    const poetryExe = path.join(venv, 'Scripts', 'poetry.exe');
    const calls: [string, string[]][] = [];
    const run: RunCommand = async (file, args) => {
      calls.push([file, args]);
      if (file === 'poetry') return notFound(file);
      return file === poetryExe ? ok('Poetry (version 2.5.1)\n') : ok();
    };
    const poetry = await locatePoetry(run, '2.5.1', WINDOWS_PYTHON, toolDir, 'win32');
    expect(poetry).toEqual({ command: poetryExe, version: '2.5.1', installedByAction: true, binDir: path.join(venv, 'Scripts') });
    expect(calls.map(([file]) => file)).toEqual(['poetry', WINDOWS_PYTHON, path.join(venv, 'Scripts', 'python.exe'), poetryExe]);
  });

  it('on Linux and macOS exposes Poetry through a bin/ of its own instead, so the venv python stays off PATH', async () => {
    const toolDir = path.join(root, 'posix-tool');
    const home = path.join(toolDir, 'poetry', '2.5.1');
    const poetryBin = path.join(home, 'venv', 'bin', 'poetry');
    const run: RunCommand = async (file) => {
      if (file === 'poetry') return notFound(file);
      return file === poetryBin ? ok('Poetry (version 2.5.1)\n') : ok();
    };
    const poetry = await locatePoetry(run, '2.5.1', MACOS_PYTHON, toolDir, 'darwin');
    expect(poetry).toEqual({ command: poetryBin, version: '2.5.1', installedByAction: true, binDir: path.join(home, 'bin') });
    expect(fs.readdirSync(path.join(home, 'bin'))).toEqual(['poetry']);
    expect(fs.readlinkSync(path.join(home, 'bin', 'poetry'))).toBe(poetryBin);
  });
});
