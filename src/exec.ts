import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as path from 'node:path';
import * as core from '@actions/core';
import { which } from '@actions/io';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  /** The signal that ended the program (exitCode is then 128), e.g. 'SIGILL'. */
  signal?: NodeJS.Signals;
}

export interface CommandOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Copy output to the log as it arrives (long steps such as `poetry sync`). */
  stream?: boolean;
  /** Where streamed output goes instead of the log (the cache worker's relay rewrites annotations). */
  echo?: (chunk: string) => void;
}

/** The one way this action starts a program: argv array, no shell, bounded in time, never rejects. */
export type RunCommand = (file: string, args: string[], options?: CommandOptions) => Promise<CommandResult>;

/** What runCommand stands on, injectable so tests need neither Windows nor a misbehaving Node. */
export interface ExecDeps {
  platform: NodeJS.Platform;
  /** Resolves a program like @actions/io's `which` (PATHEXT on Windows); '' when not found. */
  which: (tool: string) => Promise<string>;
  spawn: (file: string, args: string[], options: SpawnOptions) => ChildProcess;
  debug: (message: string) => void;
  /** How long to wait for stdout/stderr to close once the program has exited. */
  pipeGraceMs: number;
}

const DEFAULT_DEPS: ExecDeps = {
  platform: process.platform,
  which: (tool) => which(tool, false),
  spawn,
  debug: (message) => core.debug(message),
  // A grandchild that inherited the pipes (a daemon, a hung helper) must not hold the step.
  pipeGraceMs: 2_000,
};

export function createRunCommand(overrides: Partial<ExecDeps> = {}): RunCommand {
  const deps: ExecDeps = { ...DEFAULT_DEPS, ...overrides };
  return async (file, args, options = {}) => {
    const program = await resolveProgram(file, deps);
    deps.debug(`[command] ${commandLine(program, args)}`);
    if (deps.platform === 'win32' && isBatchFile(program)) return notStarted(batchFileRefusal(program));
    return start(program, args, options, deps);
  };
}

export const runCommand: RunCommand = createRunCommand();

/**
 * The file `which` finds for a bare name or an absolute path, on this process's PATH (what
 * @actions/exec does too); undefined when it finds none. Relative paths are left to spawn.
 */
export async function findProgram(file: string, deps: Pick<ExecDeps, 'which'> = DEFAULT_DEPS): Promise<string | undefined> {
  if (/[\\/]/.test(file) && !path.isAbsolute(file)) return undefined;
  try {
    return (await deps.which(file)) || undefined;
  } catch {
    return undefined;
  }
}

/** What to spawn: the file `which` found, else the name as given, so spawn reports ENOENT itself. */
async function resolveProgram(file: string, deps: ExecDeps): Promise<string> {
  return (await findProgram(file, deps)) ?? file;
}

export function isBatchFile(file: string): boolean {
  return /\.(bat|cmd)$/i.test(file);
}

/**
 * Node refuses to spawn .bat/.cmd without a shell since 20.12.2 (CVE-2024-27980), and through
 * cmd.exe every argument would be parsed again as a command line: the action runs neither.
 */
function batchFileRefusal(file: string): string {
  return `${file} is a Windows batch file, which this action does not run (cmd.exe would read its arguments as commands): give the program it wraps instead, such as the path of python.exe rather than a pyenv-win python.bat shim`;
}

const notStarted = (spawnError: string): CommandResult => ({ exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError });

function start(file: string, args: string[], options: CommandOptions, deps: ExecDeps): Promise<CommandResult> {
  let child: ChildProcess;
  try {
    child = deps.spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      // Own process group, so a timeout also ends what the command started (pip under poetry).
      detached: deps.platform !== 'win32',
    });
  } catch (error) {
    // spawn() throws at once for some programs (EINVAL, a bad cwd type): still a result, never a rejection.
    return Promise.resolve(notStarted(error instanceof Error ? error.message : String(error)));
  }
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    let pipeTimer: NodeJS.Timeout | undefined;
    const finish = (result: CommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(pipeTimer);
      resolve(result);
    };
    const ended = (code: number | null, signal: NodeJS.Signals | null): CommandResult => ({
      exitCode: code ?? (signal ? 128 : -1),
      stdout,
      stderr,
      timedOut,
      ...(signal ? { signal } : {}),
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killTree(child.pid, deps.platform);
        }, options.timeoutMs)
      : undefined;
    const echo = options.echo ?? ((chunk: string) => process.stdout.write(chunk));
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.stream) echo(chunk);
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (options.stream) echo(chunk);
    });
    child.on('error', (error) => finish({ exitCode: -1, stdout, stderr, timedOut, spawnError: error.message }));
    child.on('exit', (code, signal) => {
      pipeTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(ended(code, signal));
      }, deps.pipeGraceMs);
    });
    child.on('close', (code, signal) => finish(ended(code, signal)));
  });
}

function killTree(pid: number | undefined, platform: NodeJS.Platform): void {
  if (pid === undefined) return;
  try {
    // Windows has no process groups: taskkill /T ends the children (pip, tar) too.
    if (platform === 'win32') spawn('taskkill', ['/T', '/F', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true });
    else process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** The command as a log line: arguments with spaces or quotes are JSON-quoted so the words stay visible. */
export function commandLine(file: string, args: string[]): string {
  return [file, ...args].map((word) => (word === '' || /[\s"']/.test(word) ? JSON.stringify(word) : word)).join(' ');
}

/** The command's own last words, for an error message: stderr first, else stdout. */
export function lastLines(result: CommandResult, count = 3): string {
  const text = (result.stderr.trim() || result.stdout.trim() || result.spawnError || '').split(/\r?\n/);
  return text
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(' ');
}

/**
 * Starts a program that outlives the step (the background snapshot linker): no pipes to wait for,
 * its own process group, not awaited. Returns its pid, or the reason it could not start.
 */
export function startDetached(file: string, args: string[], env: NodeJS.ProcessEnv): { pid: number } | { error: string } {
  core.debug(`[exec] detached: ${commandLine(file, args)}`);
  try {
    const child = spawn(file, args, { env, detached: true, stdio: 'ignore', windowsHide: true });
    child.on('error', () => undefined); // reported through the pid check below, not as a crash
    child.unref();
    return child.pid === undefined ? { error: `${file} could not be started` } : { pid: child.pid };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
