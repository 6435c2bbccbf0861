import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ActionError } from '../src/errors.js';
import { runCommand, type CommandResult, type RunCommand } from '../src/exec.js';
import { resolveInterpreter, type Interpreter } from '../src/python.js';
import { assertVirtualenv, discardVenv, venvProblem } from '../src/venv.js';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'spt-venv-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('venvProblem with a real venv of this machine’s python3', () => {
  let venv: string;
  let interpreter: Interpreter;
  beforeAll(async () => {
    interpreter = await resolveInterpreter(runCommand, undefined, 'linux');
    venv = fs.mkdtempSync(path.join(os.tmpdir(), 'spt-real-venv-'));
    execFileSync(interpreter.executable, ['-m', 'venv', '--without-pip', venv]);
  }, 60_000);
  afterAll(() => {
    fs.rmSync(venv, { recursive: true, force: true });
  });

  it('trusts a venv built from the same interpreter', async () => {
    expect(await venvProblem(runCommand, venv, interpreter, 'linux')).toBeUndefined();
  });

  it('names the Python version or base interpreter that differs', async () => {
    expect(await venvProblem(runCommand, venv, { ...interpreter, version: '3.0.1' }, 'linux')).toBe(
      `it was built with Python ${interpreter.version}, this runner has 3.0.1`,
    );
    expect(await venvProblem(runCommand, venv, { ...interpreter, basePrefix: '/opt/other-python' }, 'linux')).toBe(
      `its base interpreter is ${interpreter.basePrefix}, this runner's is /opt/other-python`,
    );
  });

  it('notices a venv without pyvenv.cfg, or whose python is gone or does not run', async () => {
    expect(await venvProblem(runCommand, root, interpreter, 'linux')).toBe('it has no pyvenv.cfg');
    const broken = path.join(root, 'broken');
    fs.mkdirSync(path.join(broken, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(broken, 'pyvenv.cfg'), 'home = /gone\n');
    expect(await venvProblem(runCommand, broken, interpreter, 'linux')).toBe(
      `${path.join(broken, 'bin', 'python')} is missing or points to an interpreter that no longer exists`,
    );
    fs.symlinkSync('/gone/python3', path.join(broken, 'bin', 'python'));
    expect(await venvProblem(runCommand, broken, interpreter, 'linux')).toMatch(/is missing or points to an interpreter that no longer exists$/);
    fs.unlinkSync(path.join(broken, 'bin', 'python'));
    fs.writeFileSync(path.join(broken, 'bin', 'python'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    expect(await venvProblem(runCommand, broken, interpreter, 'linux')).toBe(`${path.join(broken, 'bin', 'python')} does not run`);
  });
});

describe('venvProblem on Windows (platform injected)', () => {
  const windowsPython: Interpreter = {
    version: '3.12.10',
    executable: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
    realpath: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
    basePrefix: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64',
  };
  const answer: CommandResult = {
    exitCode: 0,
    stdout: `SETUP_POETRY_TORCH_PROBE ${JSON.stringify({ version: '3.12.10', executable: windowsPython.executable, realpath: windowsPython.realpath, base_prefix: windowsPython.basePrefix })}\n`,
    stderr: '',
    timedOut: false,
  };

  function venvWith(file: string[]): string {
    fs.writeFileSync(path.join(root, 'pyvenv.cfg'), `home = ${windowsPython.basePrefix}\n`);
    fs.mkdirSync(path.join(root, ...file.slice(0, -1)), { recursive: true });
    fs.writeFileSync(path.join(root, ...file), '');
    return root;
  }

  it('trusts a restored venv whose Scripts\\python.exe runs on the same interpreter', async () => {
    const venv = venvWith(['Scripts', 'python.exe']);
    const calls: string[] = [];
    const run: RunCommand = async (file) => {
      calls.push(file);
      return answer;
    };
    expect(await venvProblem(run, venv, windowsPython, 'win32')).toBeUndefined();
    expect(calls).toEqual([path.join(venv, 'Scripts', 'python.exe')]);
  });

  it('rejects a venv with a POSIX layout (bin/python) on Windows without running it', async () => {
    const venv = venvWith(['bin', 'python']);
    const run: RunCommand = async (file) => {
      throw new Error(`${file} must not run`);
    };
    expect(await venvProblem(run, venv, windowsPython, 'win32')).toMatch(/Scripts.python\.exe is missing/);
  });
});

describe('discardVenv and assertVirtualenv', () => {
  it('removes a venv, and nothing when the path is not there', () => {
    const venv = path.join(root, '.venv');
    fs.mkdirSync(path.join(venv, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(venv, 'pyvenv.cfg'), 'home = /usr/bin\n');
    discardVenv(venv, false);
    expect(fs.existsSync(venv)).toBe(false);
    expect(() => discardVenv(venv, false)).not.toThrow();
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('refuses a folder that is not a venv, unless the restore just created it', () => {
    const folder = path.join(root, '.venv');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'keep\n');
    for (const act of [() => discardVenv(folder, false), () => assertVirtualenv(folder)]) {
      expect(act).toThrow(ActionError);
      expect(act).toThrow(`${folder} exists but is not a virtualenv (no pyvenv.cfg)`);
    }
    expect(fs.readFileSync(path.join(folder, 'notes.txt'), 'utf8')).toBe('keep\n');
    discardVenv(folder, true);
    expect(fs.existsSync(folder)).toBe(false);
  });
});
