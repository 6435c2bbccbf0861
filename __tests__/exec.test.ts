import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandLine, createRunCommand, findProgram, isBatchFile, lastLines, runCommand, type ExecDeps } from '../src/exec.js';

const node = process.execPath;

describe('runCommand', () => {
  it('captures stdout, stderr and the exit status of a real program', async () => {
    const result = await runCommand(node, ['-e', 'console.log("out"); console.error("err"); process.exit(3)']);
    expect(result).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  });

  it('names the signal that ended a program', async () => {
    const result = await runCommand(node, ['-e', 'process.kill(process.pid, "SIGTERM")']);
    expect(result.exitCode).toBe(128);
    expect(result.signal).toBe('SIGTERM');
    expect((await runCommand(node, ['-e', ''])).signal).toBeUndefined();
  });

  it('streams output to the echo it is given, and keeps capturing it', async () => {
    const chunks: string[] = [];
    const result = await runCommand(node, ['-e', 'console.log("a"); console.error("b")'], { stream: true, echo: (chunk) => chunks.push(chunk) });
    expect(chunks.sort()).toEqual(['a\n', 'b\n']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'a\n', stderr: 'b\n' });
  });

  it('resolves when the program does not exist, with spawn’s ENOENT', async () => {
    const result = await runCommand('setup-poetry-torch-no-such-program', []);
    expect(result.exitCode).toBe(-1);
    expect(result.spawnError).toMatch(/ENOENT/);
  });

  it('turns a synchronous spawn() throw into spawnError instead of rejecting', async () => {
    // Node validates argv before starting anything: a NUL byte throws synchronously, as EINVAL does for .bat.
    const result = await runCommand(node, ['-e', 'a\0b']);
    expect(result.exitCode).toBe(-1);
    expect(result.spawnError).toMatch(/null bytes/);
    const einval = Object.assign(new Error('spawn EINVAL'), { code: 'EINVAL' });
    const run = createRunCommand({
      spawn: () => {
        throw einval;
      },
    });
    await expect(run(node, [])).resolves.toEqual({ exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError: 'spawn EINVAL' });
  });

  it('refuses a Windows batch file with one line naming it and the fix, without spawning', async () => {
    const spawned: string[] = [];
    const shim = 'C:\\Users\\me\\.pyenv\\pyenv-win\\shims\\python.bat';
    const run = createRunCommand({
      platform: 'win32',
      which: async (tool) => (tool === 'python' ? shim : ''),
      spawn: (file: string) => {
        spawned.push(file);
        throw new Error('must not spawn');
      },
    });
    const result = await run('python', ['--version']);
    expect(spawned).toEqual([]);
    expect(result.exitCode).toBe(-1);
    expect(result.spawnError).toBe(
      `${shim} is a Windows batch file, which this action does not run (cmd.exe would read its arguments as commands): give the program it wraps instead, such as the path of python.exe rather than a pyenv-win python.bat shim`,
    );
    expect(result.spawnError).not.toMatch(/\n/);
  });

  it('runs what which resolved (PATHEXT on Windows), and a .cmd only matters on Windows', async () => {
    const seen: string[] = [];
    const fakeSpawn = ((file: string) => {
      seen.push(file);
      throw new Error('stop here');
    }) as ExecDeps['spawn'];
    await createRunCommand({ platform: 'win32', which: async () => 'C:\\Python312\\python.EXE', spawn: fakeSpawn })('python', []);
    await createRunCommand({ platform: 'linux', which: async () => '/opt/tools/build.cmd', spawn: fakeSpawn })('build.cmd', []);
    await createRunCommand({ platform: 'linux', which: async () => '', spawn: fakeSpawn })('missing', []);
    expect(seen).toEqual(['C:\\Python312\\python.EXE', '/opt/tools/build.cmd', 'missing']);
  });

  it('echoes every command at debug level', async () => {
    const lines: string[] = [];
    const run = createRunCommand({ debug: (line) => lines.push(line) });
    await run(node, ['-e', 'process.exit(0)']);
    await run('setup-poetry-torch-no-such-program', ['--flag']);
    expect(lines).toEqual([`[command] ${commandLine(node, ['-e', 'process.exit(0)'])}`, '[command] setup-poetry-torch-no-such-program --flag']);
  });

  it('ends a program that outlives its timeout', async () => {
    const started = Date.now();
    const result = await runCommand(node, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('waits only briefly for the pipes when a grandchild keeps them open after the program exits', async () => {
    // The parent exits at once; its child inherited stdout and would hold the pipe for 30 s.
    const script = `const c = require('node:child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'inherit' }); c.unref(); console.log(c.pid);`;
    const started = Date.now();
    const result = await createRunCommand({ pipeGraceMs: 300 })(node, ['-e', script]);
    const elapsed = Date.now() - started;
    const grandchild = Number(result.stdout.trim());
    try {
      expect(result.exitCode).toBe(0);
      expect(grandchild).toBeGreaterThan(0);
      expect(elapsed).toBeLessThan(10_000);
    } finally {
      if (grandchild > 0) process.kill(grandchild, 'SIGKILL');
    }
  });
});

describe('findProgram', () => {
  it('finds executables like which: bare names on PATH, absolute paths that can run, nothing else', async () => {
    const found = await findProgram('node');
    expect(found && path.isAbsolute(found) && path.basename(found)).toBe('node');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'spt-exec-'));
    try {
      const script = path.join(root, 'tool');
      fs.writeFileSync(script, '#!/bin/sh\n', { mode: 0o755 });
      const plain = path.join(root, 'notes.txt');
      fs.writeFileSync(plain, 'text\n', { mode: 0o644 });
      expect(await findProgram(script)).toBe(script);
      if (process.platform !== 'win32') expect(await findProgram(plain)).toBeUndefined();
      expect(await findProgram('setup-poetry-torch-no-such-program')).toBeUndefined();
      // Relative paths are left to spawn and the command's cwd.
      expect(await findProgram(path.join('bin', 'tool'))).toBeUndefined();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('helpers', () => {
  it('tells batch files by extension, any case', () => {
    expect(['python.bat', 'X.CMD', 'a.Bat'].map(isBatchFile)).toEqual([true, true, true]);
    expect(['python.exe', 'bat', 'cmd.exe.txt'].map(isBatchFile)).toEqual([false, false, false]);
  });

  it('quotes only the words that need it in the debug line', () => {
    expect(commandLine('poetry', ['sync', '--extras', 'cpu gpu', '', 'it"s'])).toBe('poetry sync --extras "cpu gpu" "" "it\\"s"');
  });

  it('takes the last lines of stderr, else stdout, else the spawn error', () => {
    const base = { exitCode: 1, timedOut: false };
    expect(lastLines({ ...base, stdout: 'x', stderr: 'a\n\n b \nc\nd\n' })).toBe('b c d');
    expect(lastLines({ ...base, stdout: 'only\nout', stderr: ' ' }, 1)).toBe('out');
    expect(lastLines({ ...base, stdout: '', stderr: '', spawnError: 'spawn x ENOENT' })).toBe('spawn x ENOENT');
  });
});
