import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { ActionError } from '../src/errors.js';
import { createRunCommand, runCommand, type CommandResult, type RunCommand } from '../src/exec.js';
import { describeInterpreter, parseProbeOutput, resolveInterpreter, venvPython, type Interpreter } from '../src/python.js';

const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
const probeLine = (report: object): string => `SETUP_POETRY_TORCH_PROBE ${JSON.stringify(report)}\n`;

// setup-python's interpreter on the hosted Windows image, as Python reports it.
const WINDOWS_PYTHON: Interpreter = {
  version: '3.12.10',
  executable: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
  realpath: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64\\python.exe',
  basePrefix: 'C:\\hostedtoolcache\\windows\\Python\\3.12.10\\x64',
};
const windowsAnswer = ok(
  probeLine({
    version: WINDOWS_PYTHON.version,
    executable: WINDOWS_PYTHON.executable,
    realpath: WINDOWS_PYTHON.realpath,
    base_prefix: WINDOWS_PYTHON.basePrefix,
  }),
);

/** This machine's python3, asked directly: what the probe must agree with. */
const own = spawnSync('python3', ['-c', 'import platform, sys; print(platform.python_version()); print(sys.base_prefix)'], { encoding: 'utf8' })
  .stdout.trim()
  .split('\n');

describe('venvPython', () => {
  it.each([
    ['win32', ['Scripts', 'python.exe']],
    ['linux', ['bin', 'python']],
    ['darwin', ['bin', 'python']],
  ] as const)('on %s is <venv>/%j', (platform, segments) => {
    const venv = path.join(os.tmpdir(), 'project', '.venv');
    expect(venvPython(venv, platform)).toBe(path.join(venv, ...segments));
  });
});

describe('parseProbeOutput', () => {
  it('reads the marked JSON line and ignores what else the interpreter printed', () => {
    expect(parseProbeOutput(ok(`UserWarning: something\n${probeLine({ version: '3.12.1' })}trailing\n`))).toEqual({ version: '3.12.1' });
    expect(parseProbeOutput(ok('SETUP_POETRY_TORCH_PROBE {not json\n'))).toBeUndefined();
    expect(parseProbeOutput(ok('{"version": "3.12.1"}\n'))).toBeUndefined();
  });
});

describe('resolveInterpreter with the real python3 of this machine', () => {
  it('finds python3 on PATH and reports what Python itself says', async () => {
    const found = await resolveInterpreter(runCommand, undefined, 'linux');
    expect(found.version).toBe(own[0]);
    expect(path.resolve(found.basePrefix)).toBe(path.resolve(own[1]));
    expect(path.isAbsolute(found.executable)).toBe(true);
    expect(await describeInterpreter(runCommand, found.executable)).toEqual(found);
  });

  it('accepts a requested minor version only when the interpreter has it', async () => {
    const minor = own[0].split('.').slice(0, 2).join('.');
    expect((await resolveInterpreter(runCommand, minor, 'linux')).version).toBe(own[0]);
    await expect(resolveInterpreter(runCommand, '3.99', 'linux')).rejects.toThrow(
      new RegExp(`^Could not find Python 3\\.99 \\(python3\\.99: .*ENOENT; python3 is Python ${own[0].replace(/\./g, '\\.')}; `),
    );
  });

  it('names the input and the fix when the requested path is not a file', async () => {
    const missing = path.join(os.tmpdir(), 'spt-no-such-python', 'python3');
    const error = await resolveInterpreter(runCommand, missing, 'linux').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).message).toBe(
      `Input 'python' is ${JSON.stringify(missing)}, which is not a file: give a version such as 3.12 or the path of an interpreter.`,
    );
  });
});

describe('resolveInterpreter on Windows (platform injected)', () => {
  it('looks up a requested version as `python` only: Windows installs name no python3.12.exe', async () => {
    const calls: string[] = [];
    const run: RunCommand = async (file) => {
      calls.push(file);
      return windowsAnswer;
    };
    expect(await resolveInterpreter(run, '3.12', 'win32')).toEqual(WINDOWS_PYTHON);
    expect(calls).toEqual(['python']);
  });

  it('reports a pyenv-win python.bat shim in one line with the fix instead of failing with a stack trace', async () => {
    const shim = 'C:\\Users\\me\\.pyenv\\pyenv-win\\shims\\python.bat';
    const run = createRunCommand({
      platform: 'win32',
      which: async () => shim,
      spawn: () => {
        throw new Error('spawn EINVAL');
      },
    });
    const error = await resolveInterpreter(run, undefined, 'win32').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ActionError);
    const message = (error as ActionError).message;
    expect(message).toMatch(/^Could not find a Python interpreter \(python: .*python\.bat is a Windows batch file, which this action does not run/);
    expect(message).toMatch(/set the python input to an interpreter's path\.$/);
    expect(message).not.toMatch(/\n|EINVAL/);
  });
});
