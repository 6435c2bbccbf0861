import * as cache from '@actions/cache';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand, startDetached, type RunCommand } from '../exec.js';
import { buildSnapshot, recordLinker, type Snapshot } from './snapshot.js';

/** The GitHub cache, through @actions/cache in a child process (dist/cache-worker.js). */

export const WORKER_ENV = 'SETUP_POETRY_TORCH_CACHE_WORKER';
const RESULT_MARKER = 'SETUP_POETRY_TORCH_CACHE_RESULT ';
/**
 * The library's per-request (socket) timeout: its default, made explicit. Kept above short
 * overall bounds so that the kill, not the library's silent give-up, reports a stall.
 */
const REQUEST_TIMEOUT_MS = 30_000;

export type WorkerRequest =
  | { op: 'restore'; path: string; primary: string; restoreKeys: string[]; lookupOnly?: boolean; timeoutInMs: number; segmentTimeoutInMs: number }
  /** lookup: ask whether the key exists before archiving (false when the restore just saw the service fail). */
  | { op: 'save'; path: string; key: string; timeoutInMs: number; lookup?: boolean }
  /** Links the snapshot of a verified venv in the background (snapshot.ts); the step does not wait. */
  | { op: 'snapshot'; source: string; root: string; venv: string };

export interface WorkerResult {
  matchedKey?: string;
  cacheId?: number;
  /** A lookup found the key already saved (by a matrix twin, or an earlier run). */
  exists?: boolean;
  /** The service refused the reservation with 409: a job with the same key saved it, or is saving it now. */
  taken?: boolean;
  error?: string;
  timedOut?: boolean;
  /**
   * The library's own "Failed to restore: ..." (a 5xx after its retries, a refused connection, a
   * broken archive): restoreCache logs it and returns undefined, which alone would read as a miss.
   */
  failure?: string;
}

/** Why the cache cannot be used on this runner, or undefined when it can. */
export function cacheUnavailableReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cacheMode(env) === 'none') return "ACTIONS_CACHE_MODE is 'none' (the cache is turned off for this job)";
  if (!cache.isFeatureAvailable()) return 'the cache service is not configured on this runner (no ACTIONS_RESULTS_URL / ACTIONS_CACHE_URL)';
  if (!env.ACTIONS_RUNTIME_TOKEN) return 'the runner gave this step no ACTIONS_RUNTIME_TOKEN';
  return undefined;
}

/** ACTIONS_CACHE_MODE as the runner exports it (none, read, write, write-only); '' when unset. */
export function cacheMode(env: NodeJS.ProcessEnv = process.env): string {
  return (env.ACTIONS_CACHE_MODE ?? '').trim().toLowerCase();
}

/** The two calls the worker makes; a test passes a recorder of the arguments. */
export type CacheLibrary = Pick<typeof cache, 'restoreCache' | 'saveCache'>;

/**
 * The worker's whole job: one or two library calls, the result on a marker line. It never passes
 * enableCrossOsArchive: a Windows venv must stay Windows-only (the library's own wall, behind the OS in our key).
 */
export async function workerMain(
  env: NodeJS.ProcessEnv = process.env,
  write: (text: string) => void = (text) => process.stdout.write(text),
  library: CacheLibrary = cache,
): Promise<void> {
  const request = JSON.parse(env[WORKER_ENV] ?? '{}') as WorkerRequest;
  if (request.op === 'snapshot') {
    buildSnapshot(request.source, request);
    return;
  }
  let result: WorkerResult;
  try {
    result = request.op === 'restore' ? await workerRestore(request, library) : await workerSave(request, library);
  } catch (error) {
    result = { error: (error as Error).message };
  }
  write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

async function workerRestore(request: Extract<WorkerRequest, { op: 'restore' }>, library: CacheLibrary): Promise<WorkerResult> {
  const options = { timeoutInMs: request.timeoutInMs, segmentTimeoutInMs: request.segmentTimeoutInMs, lookupOnly: request.lookupOnly ?? false };
  return { matchedKey: await library.restoreCache([request.path], request.primary, request.restoreKeys, options) };
}

async function workerSave(request: Extract<WorkerRequest, { op: 'save' }>, library: CacheLibrary): Promise<WorkerResult> {
  const asks = request.lookup ?? true;
  // A matrix twin that saved first: the lookup answers before a multi-GB archive is built.
  const lookupOptions = { lookupOnly: true, timeoutInMs: request.timeoutInMs };
  if (asks && (await library.restoreCache([request.path], request.key, [], lookupOptions)) === request.key) return { exists: true };
  // A refused reservation is told apart from other trouble by the relay (runWorker), from the library's debug line.
  return { cacheId: await library.saveCache([request.path], request.key) };
}

/**
 * Relays the worker's output to the log line by line. @actions/cache reports a 5xx from the
 * service as an ::error:: annotation through @actions/core, which writes it straight to
 * process.stdout (no logger to hook). Cache trouble is a warning here; because the library runs
 * in a child process whose stdout only this relay reads, the rewrite happens here instead of by
 * patching process.stdout. The result line stays out of the log. The first "Failed to restore"
 * annotation is kept: it is the only sign that a restore which returned no key failed.
 */
export function annotationRelay(write: (text: string) => void): {
  push: (chunk: string) => void;
  flush: () => void;
  restoreFailure: () => string | undefined;
  reservationTaken: () => boolean;
} {
  let pending = '';
  let failure: string | undefined;
  let taken = false;
  const emit = (line: string): void => {
    if (line.startsWith(RESULT_MARKER)) return;
    // The library folds every refused reservation into one "another job may be creating this
    // cache"; only its debug line keeps the status, and 409 means the key and version are taken.
    if (/^::debug::Failed to reserve cache: .*\(409\)/.test(line)) taken = true;
    const annotation = /^::(?:error|warning)(?:\s[^:]*)?::(Failed to restore: .*)$/.exec(line.trimEnd());
    // Undo @actions/core's command escaping (newlines and % in the message).
    if (annotation) failure ??= annotation[1].replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
    write(line.replace(/^::error(\s[^:]*)?::/, '::warning$1::'));
  };
  return {
    push(chunk) {
      pending += chunk;
      let end = pending.indexOf('\n');
      while (end >= 0) {
        emit(pending.slice(0, end + 1));
        pending = pending.slice(end + 1);
        end = pending.indexOf('\n');
      }
    },
    flush() {
      if (pending) emit(pending);
      pending = '';
    },
    restoreFailure: () => failure,
    reservationTaken: () => taken,
  };
}

export interface WorkerRun {
  /** Where the cache paths are relative to (GITHUB_WORKSPACE for the library's tar). */
  workspace: string;
  timeoutMs: number;
  entry?: string;
  run?: RunCommand;
  log?: (text: string) => void;
}

/** dist/cache-worker.js, beside the bundle that imports this module. */
export function defaultWorkerEntry(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), 'cache-worker.js');
}

/** Starts the snapshot's linker in the background; when it cannot start, the post step links instead. */
export function startSnapshotLinker(source: string, snapshot: Snapshot, entry = defaultWorkerEntry()): string | undefined {
  if (!fs.existsSync(entry)) return `the cache worker ${entry} is missing from the action`;
  const request: WorkerRequest = { op: 'snapshot', source, root: snapshot.root, venv: snapshot.venv };
  const started = startDetached(process.execPath, [entry], { ...process.env, [WORKER_ENV]: JSON.stringify(request) });
  if ('error' in started) return started.error;
  recordLinker(snapshot.root, started.pid);
  return undefined;
}

/**
 * The library has no overall bound (tar and a stalled service can hang past its own timeouts),
 * and an abandoned in-process restore could still extract over a fresh venv later. So each
 * call runs in a child process that the timeout kills together with its tar.
 */
export async function runWorker(request: WorkerRequest, options: WorkerRun): Promise<WorkerResult> {
  const relay = annotationRelay(options.log ?? ((text) => process.stdout.write(text)));
  const run = options.run ?? runCommand;
  const entry = options.entry ?? defaultWorkerEntry();
  if (!fs.existsSync(entry)) return { error: `the cache worker ${entry} is missing from the action` };
  const result = await run(process.execPath, [entry], {
    cwd: options.workspace,
    env: { ...process.env, GITHUB_WORKSPACE: options.workspace, [WORKER_ENV]: JSON.stringify(request) },
    timeoutMs: options.timeoutMs,
    stream: true,
    echo: relay.push,
  });
  relay.flush();
  if (result.timedOut) return { error: `the cache service did not finish within ${Math.round(options.timeoutMs / 1000)} s`, timedOut: true };
  const line = result.stdout.split(/\r?\n/).find((text) => text.startsWith(RESULT_MARKER));
  if (!line) return { error: `the cache worker exited with code ${result.exitCode} and no result` };
  const parsed = JSON.parse(line.slice(RESULT_MARKER.length)) as WorkerResult;
  // A save's lookup failing is the save's business (it goes on to reserve); a restore's is not a miss.
  const failure = relay.restoreFailure();
  if (request.op === 'restore' && !parsed.matchedKey && !parsed.error && failure) parsed.failure = failure;
  if (request.op === 'save' && parsed.cacheId === -1 && relay.reservationTaken()) parsed.taken = true;
  return parsed;
}

/**
 * The cache sees the venv as a path relative to the workspace: the same string names it in the
 * archive and in the entry's version, so a snapshot laid out the same way under another root
 * (see snapshot.ts) saves an entry that restores into the venv.
 */
export function cachePath(workspace: string, venv: string): string {
  return path.relative(workspace, venv) || '.';
}

export function restoreRequest(relativeVenv: string, primary: string, restoreKeys: string[], timeoutMs: number, lookupOnly = false): WorkerRequest {
  return {
    op: 'restore',
    path: relativeVenv,
    primary,
    restoreKeys,
    lookupOnly,
    timeoutInMs: REQUEST_TIMEOUT_MS,
    segmentTimeoutInMs: timeoutMs,
  };
}

export function saveRequest(relativeVenv: string, key: string, lookup = true): WorkerRequest {
  return { op: 'save', path: relativeVenv, key, timeoutInMs: REQUEST_TIMEOUT_MS, lookup };
}
