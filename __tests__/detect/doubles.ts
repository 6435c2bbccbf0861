/**
 * TEST DOUBLES for the programs detection runs, for a machine without a GPU: each replays a
 * recorded output (fixtures/nvidia-smi, fixtures/cuda-driver; names end in .exit<N>.<ext>,
 * the exit status replayed) instead of running anything.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DetectDeps } from '../../src/detect/index.js';
import type { CommandOptions, CommandResult, RunCommand } from '../../src/exec.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

export function fixture(...parts: string[]): string {
  return readFileSync(path.join(FIXTURES, ...parts), 'utf8');
}

export function replayed(dir: string, name: string): CommandResult {
  const exit = /\.exit(\d+)\./.exec(name);
  if (!exit) throw new Error(`recording ${name} does not name its exit status`);
  return { exitCode: Number(exit[1]), stdout: fixture(dir, name), stderr: '', timedOut: false };
}

export function notFound(file: string): CommandResult {
  return { exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError: `spawn ${file} ENOENT` };
}

export interface Recorded {
  /** nvidia-smi --query-gpu outputs, in call order; absent: nvidia-smi is not installed. */
  query?: string[];
  /** The plain `nvidia-smi` table (its header has the CUDA version). */
  table?: string;
  /** What cuda_driver.py printed (fixtures/cuda-driver); absent: python3 is not installed. */
  libcuda?: string;
}

/** One double for nvidia-smi and python3 (cuda_driver.py); every call is kept for assertions. */
export function recordedMachine(recorded: Recorded): { run: RunCommand; calls: { file: string; args: string[]; options?: CommandOptions }[] } {
  const calls: { file: string; args: string[]; options?: CommandOptions }[] = [];
  let queries = 0;
  const run: RunCommand = async (file, args, options) => {
    calls.push({ file, args, options });
    if (/python/.test(path.basename(file))) return recorded.libcuda ? replayed('cuda-driver', recorded.libcuda) : notFound(file);
    if (recorded.query === undefined) return notFound(file);
    if (args.length === 0) {
      if (!recorded.table) throw new Error('nvidia-smi table asked for but none recorded');
      return replayed('nvidia-smi', recorded.table);
    }
    const name = recorded.query[queries++];
    if (name === undefined) throw new Error(`nvidia-smi query run ${queries} times, only ${recorded.query.length} recording(s)`);
    return replayed('nvidia-smi', name);
  };
  return { run, calls };
}

export function linuxRoot(root: string, run: RunCommand, platform: NodeJS.Platform = 'linux'): DetectDeps {
  return { platform, root: path.join(FIXTURES, 'roots', root), env: {}, run, nvidiaSmiTimeoutMs: 10_000 };
}
