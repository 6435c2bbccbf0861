import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findOnPath, parsePoetryVersion, poetryEnvironment, poetryScriptVersion } from '../../src/poetry/install.js';

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

describe('findOnPath', () => {
  it('returns the first executable file, as spawn would', () => {
    for (const [dir, mode] of [
      ['a', 0o644],
      ['b', 0o755],
      ['c', 0o755],
    ] as const) {
      fs.mkdirSync(path.join(root, dir));
      fs.writeFileSync(path.join(root, dir, 'poetry'), '', { mode });
    }
    fs.mkdirSync(path.join(root, 'd', 'poetry'), { recursive: true });
    const PATH = ['', 'd', 'a', 'b', 'c'].map((dir) => (dir ? path.join(root, dir) : '')).join(path.delimiter);
    expect(findOnPath('poetry', { PATH })).toBe(path.join(root, 'b', 'poetry'));
    expect(findOnPath('poetry', {})).toBeUndefined();
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
