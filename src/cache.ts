import * as cache from '@actions/cache';
import * as core from '@actions/core';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CACHE_PREFIX } from './constants.js';
import type { Interpreter } from './python.js';
import type { Selection } from './project.js';
import { runCommand, type RunCommand } from './exec.js';

export interface RunnerFingerprint {
  os: string;
  distro: string;
  arch: string;
}

export interface CacheKeys {
  primary: string;
  /** Same runner, interpreter and mode: a venv that a sync can bring up to date cheaply. */
  restorePrefix: string;
}

export type RestoreOutcome =
  | { kind: 'exact' | 'partial'; matchedKey: string; durationMs: number }
  | { kind: 'miss'; durationMs: number }
  | { kind: 'skipped'; reason: string }
  /** stalled: the service did not answer within the bound, so a save would most likely hang as long. */
  | { kind: 'failed'; reason: string; durationMs: number; stalled?: boolean };

/** expected: nothing went wrong, this job just may not or need not write (no warning). */
export type SaveOutcome = { saved: true; durationMs: number; sizeBytes?: number } | { saved: false; reason: string; expected?: boolean };

function shortHash(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Key segments are ours or hashed; a user's suffix keeps only characters that are safe in a key. */
function keySegment(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9._-]+/g, '_');
  return safe === text ? safe : `${safe}_${shortHash(text, 6)}`;
}

/** The distro decides which system libraries a venv's compiled wheels were linked against. */
export function runnerFingerprint(platform: NodeJS.Platform, arch: string, root = '/', release = ''): RunnerFingerprint {
  let distro = platform === 'darwin' ? `macos${release.split('.')[0]}` : platform;
  if (platform === 'linux') {
    try {
      const text = fs.readFileSync(path.join(root, 'etc', 'os-release'), 'utf8');
      const field = (name: string): string => new RegExp(`^${name}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
      distro = `${field('ID') || 'linux'}${field('VERSION_ID')}`;
    } catch {
      distro = 'linux';
    }
  }
  return { os: platform, distro: keySegment(distro), arch };
}

export function cacheKeys(parts: {
  fingerprint: RunnerFingerprint;
  interpreter: Interpreter;
  mode: 'cpu' | 'cuda';
  selection: Selection;
  syncArgs: string[];
  lockText: string;
  suffix: string;
}): CacheKeys {
  const { fingerprint, interpreter } = parts;
  const restorePrefix = [
    CACHE_PREFIX,
    fingerprint.os,
    fingerprint.distro,
    fingerprint.arch,
    `py${interpreter.version}`,
    shortHash(interpreter.realpath, 8),
    parts.mode,
  ].join('-');
  const selection = shortHash(JSON.stringify([parts.selection.extras, parts.selection.groups, parts.syncArgs]), 8);
  const lock = shortHash(parts.lockText.replace(/\r\n/g, '\n'), 16);
  const suffix = parts.suffix ? `-${keySegment(parts.suffix)}` : '';
  return { primary: `${restorePrefix}-${selection}-${lock}${suffix}`, restorePrefix: `${restorePrefix}-` };
}

/** Why the cache cannot be used on this runner, or undefined when it can. */
export function cacheUnavailableReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cacheMode(env) === 'none') return "ACTIONS_CACHE_MODE is 'none' (the cache is turned off for this job)";
  if (!cache.isFeatureAvailable()) return 'the cache service is not configured on this runner (no ACTIONS_RESULTS_URL / ACTIONS_CACHE_URL)';
  if (!env.ACTIONS_RUNTIME_TOKEN) return 'the runner gave this step no ACTIONS_RUNTIME_TOKEN';
  return undefined;
}

/** ACTIONS_CACHE_MODE as the runner exports it (none, read, write, write-only); '' when unset. */
function cacheMode(env: NodeJS.ProcessEnv): string {
  return (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
}

/**
 * @actions/cache reports a 5xx from the service as an ::error:: annotation, which reads as a
 * failed job although it is not. Cache trouble is a warning here, so rewrite those lines.
 */
async function withCacheErrorsAsWarnings<T>(work: () => Promise<T>, seen?: (text: string) => void): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    seen?.(text);
    return (write as (...args: unknown[]) => boolean)(text.replace(/^::error(\s[^:]*)?::/gm, '::warning$1::'), ...rest);
  };
  try {
    return await work();
  } finally {
    process.stdout.write = write;
  }
}

const WORKER_ENV = 'SETUP_POETRY_TORCH_CACHE_WORKER';
const RESULT_MARKER = 'SETUP_POETRY_TORCH_CACHE_RESULT ';

type WorkerRequest = { op: 'restore'; venv: string; keys: CacheKeys } | { op: 'save'; venv: string; key: string };
type WorkerResult = { matchedKey?: string; cacheId?: number; error?: string; exists?: boolean; timedOut?: boolean };

/**
 * The library folds every failed reservation into one "another job may be creating this cache";
 * only its debug line keeps the status. 409 means the key and version are taken: a matrix
 * job with the same key saved (or is saving) first, which is no trouble.
 */
const RESERVE_CONFLICT = /Failed to reserve cache: .*\(409\)/;

/** True when this process was started as the cache worker (see runInWorker). */
export function isCacheWorker(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[WORKER_ENV]);
}

/** The worker's whole job: one library call, its result on a marker line. */
export async function cacheWorkerMain(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const request = JSON.parse(env[WORKER_ENV] ?? '{}') as WorkerRequest;
  let result: WorkerResult;
  let output = '';
  try {
    result = await withCacheErrorsAsWarnings(
      async () =>
        request.op === 'restore'
          ? { matchedKey: await cache.restoreCache([request.venv], request.keys.primary, [request.keys.restorePrefix]) }
          : { cacheId: await cache.saveCache([request.venv], request.key) },
      (text) => (output += text),
    );
    if (result.cacheId === -1 && RESERVE_CONFLICT.test(output)) result.exists = true;
  } catch (error) {
    result = { error: (error as Error).message };
  }
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/**
 * The library has no timeout of its own (a stalled service hangs it), and an abandoned
 * in-process restore could still extract over a fresh venv later. So each cache call runs
 * in a child process that a timeout kills together with its tar.
 */
async function runInWorker(request: WorkerRequest, timeoutMs: number, run: RunCommand = runCommand): Promise<WorkerResult> {
  const entry = process.argv[1];
  const result = await run(process.execPath, [entry], { env: { ...process.env, [WORKER_ENV]: JSON.stringify(request) }, timeoutMs, stream: true });
  if (result.timedOut) return { error: `the cache service did not finish within ${Math.round(timeoutMs / 1000)} s`, timedOut: true };
  const line = result.stdout.split(/\r?\n/).find((text) => text.startsWith(RESULT_MARKER));
  if (!line) return { error: `the cache worker exited with code ${result.exitCode} and no result` };
  return JSON.parse(line.slice(RESULT_MARKER.length)) as WorkerResult;
}

export async function restoreVenv(venv: string, keys: CacheKeys, timeoutMs: number): Promise<Exclude<RestoreOutcome, { kind: 'skipped' }>> {
  const started = Date.now();
  const result = await runInWorker({ op: 'restore', venv, keys }, timeoutMs);
  const durationMs = Date.now() - started;
  if (result.error) return { kind: 'failed', reason: result.error, durationMs, stalled: result.timedOut };
  if (!result.matchedKey) return { kind: 'miss', durationMs };
  return { kind: result.matchedKey === keys.primary ? 'exact' : 'partial', matchedKey: result.matchedKey, durationMs };
}

export async function saveVenv(venv: string, key: string, timeoutMs: number): Promise<SaveOutcome> {
  const mode = cacheMode(process.env);
  if (mode === 'read' || mode === 'none') {
    // Archiving GBs only for the library to refuse the write would waste minutes.
    const reason = `ACTIONS_CACHE_MODE is '${mode}': this job may restore but not write the cache`;
    core.info(`Not saved: ${reason}.`);
    return { saved: false, reason, expected: true };
  }
  const started = Date.now();
  const result = await runInWorker({ op: 'save', venv, key }, timeoutMs);
  if (result.error) return { saved: false, reason: result.error };
  if (result.exists) {
    const reason = 'an entry with this key already exists (a job with the same key saved it first, or is saving it now)';
    core.info(`Not saved: ${reason}.`);
    return { saved: false, reason, expected: true };
  }
  // -1: the library already logged why (entry exists, service refused, upload failed).
  if (result.cacheId === undefined || result.cacheId === -1) return { saved: false, reason: 'the cache service did not accept the entry (see the log above)' };
  return { saved: true, durationMs: Date.now() - started };
}
