import { spawn } from 'node:child_process';

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
}

/** The one way this action starts a program: argv array, no shell, bounded in time. */
export type RunCommand = (file: string, args: string[], options?: CommandOptions) => Promise<CommandResult>;

export const runCommand: RunCommand = (file, args, options = {}) =>
  new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (result: CommandResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
      // Own process group, so a timeout also ends what the command started (pip under poetry).
      detached: process.platform !== 'win32',
    });
    const timer = options.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killTree(child.pid);
        }, options.timeoutMs)
      : undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.stream) process.stdout.write(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (options.stream) process.stdout.write(chunk);
    });
    child.on('error', (error) => finish({ exitCode: -1, stdout, stderr, timedOut, spawnError: error.message }));
    child.on('close', (code, signal) => finish({ exitCode: code ?? (signal ? 128 : -1), stdout, stderr, timedOut, ...(signal ? { signal } : {}) }));
  });

function killTree(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // Windows has no process groups: taskkill /T ends the children (pip, tar) too.
    if (process.platform === 'win32') spawn('taskkill', ['/T', '/F', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true });
    else process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
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
