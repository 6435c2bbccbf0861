import * as core from '@actions/core';
import { createHash } from 'node:crypto';
import { HttpClient } from '@actions/http-client';
import type { Writable } from 'node:stream';
import { runCommand, lastLines, type RunCommand } from './exec.js';

// @actions/cache writes the whole archive to a temporary file and only then runs tar over it. For
// a 2.7 GB CUDA venv that is an extra write and read of the archive: 11 s of a 28 s restore here.
// This restore asks the same service (v2, as the library does) for the same entry and pipes the
// blob into the same tar command, so the download and the extraction overlap. Saving, other
// platforms and cache service v1 (GHES) stay with the library.

const SERVICE_PATH = '/twirp/github.actions.results.api.v1.CacheService/';
/** @actions/cache's own salt: entries it saved must be found by the same version. */
const VERSION_SALT = '1.0';
const LOOKUP_ATTEMPTS = 5;
const DOWNLOAD_ATTEMPTS = 5;
const PIPE_AHEAD_BYTES = 8 << 20;
const IDLE_TIMEOUT_MS = Number(process.env.SETUP_POETRY_TORCH_DOWNLOAD_IDLE_MS) || 60_000;
/** Failures that no retry fixes soon; the library gives up on these at once too. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTUNREACH']);

/** Where streaming applies: GNU tar (Linux) and cache service v2 outside GHES. */
export function canStreamRestore(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  if (env.SETUP_POETRY_TORCH_STREAM_RESTORE === 'false') return false;
  if (platform !== 'linux' || !env.ACTIONS_CACHE_SERVICE_V2 || !env.ACTIONS_RESULTS_URL || !env.ACTIONS_RUNTIME_TOKEN) return false;
  let host: string;
  try {
    host = new URL(env.GITHUB_SERVER_URL || 'https://github.com').hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'github.com' || host.endsWith('.ghe.com') || host.endsWith('.localhost');
}

/** The entry version @actions/cache computes (paths, compression, salt): it must match for a hit. */
export function cacheVersion(paths: string[], compression: 'zstd-without-long' | 'gzip'): string {
  return createHash('sha256')
    .update([...paths, compression, VERSION_SALT].join('|'))
    .digest('hex');
}

interface Lookup {
  ok?: boolean;
  signed_download_url?: string;
  matched_key?: string;
}

class RestoreError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const backoffMs = (attempt: number): number => 3000 * 1.5 ** (attempt - 1);

/** The toolkit's client: it honours the runner's proxy settings as the library's own calls do. */
function httpClient(): HttpClient {
  return new HttpClient('setup-poetry-torch', [], { socketTimeout: IDLE_TIMEOUT_MS, allowRetries: false });
}

const errorCode = (error: unknown): string | undefined => (error as { code?: string }).code;
/** Error texts can quote the request path: its query holds the blob's signature, which stays out of logs. */
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error)).replace(/\?\S*/g, '?…');

async function lookup(env: NodeJS.ProcessEnv, body: object, wait: (ms: number) => Promise<void>): Promise<Lookup> {
  const url = new URL(`${SERVICE_PATH}GetCacheEntryDownloadURL`, env.ACTIONS_RESULTS_URL).href;
  const client = httpClient();
  let last = '';
  try {
    for (let attempt = 1; attempt <= LOOKUP_ATTEMPTS; attempt++) {
      if (attempt > 1) {
        core.info(`Cache lookup attempt ${attempt - 1} of ${LOOKUP_ATTEMPTS} failed (${last}); retrying.`);
        await wait(backoffMs(attempt - 1));
      }
      let status: number;
      let text: string;
      let statusText: string;
      try {
        const response = await client.post(url, JSON.stringify(body), {
          'Content-Type': 'application/json',
          Authorization: `Bearer ${env.ACTIONS_RUNTIME_TOKEN ?? ''}`,
        });
        status = response.message.statusCode ?? 0;
        statusText = response.message.statusMessage ?? '';
        text = await response.readBody();
      } catch (error) {
        const code = errorCode(error);
        if (code && NETWORK_CODES.has(code)) throw new RestoreError(errorText(error), false);
        last = errorText(error);
        continue;
      }
      if (status >= 200 && status < 300) {
        try {
          return JSON.parse(text) as Lookup;
        } catch {
          last = `(${status}) the reply is not JSON`;
          continue;
        }
      }
      let detail = '';
      try {
        detail = (JSON.parse(text) as { msg?: string }).msg ?? '';
      } catch {
        // Not a twirp error body.
      }
      last = `(${status}) ${statusText}${detail ? `: ${detail}` : ''}`;
      if (![500, 502, 503, 504].includes(status)) throw new RestoreError(`Failed request: ${last}`, false);
    }
  } finally {
    client.dispose();
  }
  throw new RestoreError(`Failed request after ${LOOKUP_ATTEMPTS} attempts: ${last}`, false);
}

/** Writes the blob into `sink`, resuming with a Range request where a connection drops. */
async function download(url: string, sink: Writable, wait: (ms: number) => Promise<void>): Promise<number> {
  const client = httpClient();
  let received = 0;
  let total: number | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await client.get(url, received > 0 ? { Range: `bytes=${received}-` } : {});
        const body = response.message;
        const status = body.statusCode ?? 0;
        if (status !== (received > 0 ? 206 : 200)) {
          body.resume();
          throw new RestoreError(`the archive download answered ${status} ${body.statusMessage ?? ''}`.trim(), status >= 500);
        }
        total ??= received + Number(body.headers['content-length'] ?? NaN);
        // A dropped connection ends the body early (or with an error); the count tells which.
        for await (const chunk of body as AsyncIterable<Buffer>) {
          received += chunk.length;
          // Waiting for 'drain' after every 64 KiB (the pipe's size) would run the download and
          // the extraction in lockstep; a few MiB in hand keep tar fed while the next ones arrive.
          sink.write(chunk);
          if (sink.writableLength > PIPE_AHEAD_BYTES) await waitForDrain(sink);
        }
        if (Number.isNaN(total) || received === total) return received;
        throw new RestoreError(`the connection closed after ${received} of ${total} bytes`, true);
      } catch (error) {
        const failure = error instanceof RestoreError ? error : new RestoreError(errorText(error), !sink.destroyed);
        if (!failure.retryable || attempt >= DOWNLOAD_ATTEMPTS) throw failure;
        core.info(`Archive download interrupted at ${received} bytes (${failure.message}); resuming (attempt ${attempt + 1} of ${DOWNLOAD_ATTEMPTS}).`);
        await wait(1000 * attempt);
      }
    }
  } finally {
    client.dispose();
  }
}

function waitForDrain(sink: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      sink.off('drain', onDrain);
      sink.off('error', done);
      sink.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('the extractor closed its input'));
    sink.once('drain', onDrain);
    sink.once('error', done);
    sink.once('close', onClose);
  });
}

/**
 * Restores `paths` like @actions/cache's restoreCache (same lookup, same version, same tar
 * command and working directory) without the temporary archive. Same contract too: the matched
 * key, undefined for a miss, and any trouble a warning plus undefined.
 */
export async function streamRestore(
  paths: string[],
  primaryKey: string,
  restoreKeys: string[],
  { env = process.env, run = runCommand, wait = sleep }: { env?: NodeJS.ProcessEnv; run?: RunCommand; wait?: (ms: number) => Promise<void> } = {},
): Promise<string | undefined> {
  try {
    const zstd = await run('zstd', ['--quiet', '--version'], { timeoutMs: 30_000 });
    const compression = zstd.exitCode === 0 && zstd.stdout.trim() ? 'zstd-without-long' : 'gzip';
    const found = await lookup(env, { key: primaryKey, restore_keys: restoreKeys, version: cacheVersion(paths, compression) }, wait);
    if (!found.ok || !found.signed_download_url || !found.matched_key) return undefined;
    core.info(found.matched_key === primaryKey ? `Cache hit for: ${found.matched_key}` : `Cache hit for restore-key: ${found.matched_key}`);
    core.info('Streaming the archive into tar (no temporary archive file).');

    const url = found.signed_download_url;
    // Whatever quotes the signed URL (a library's debug line, an error) must not show its signature.
    const signature = new URL(url).searchParams.get('sig');
    if (signature) core.setSecret(signature);
    let bytes = 0;
    const decompress = compression === 'gzip' ? ['-z'] : ['--use-compress-program', 'unzstd'];
    const workspace = env.GITHUB_WORKSPACE || process.cwd();
    const tar = await run('tar', ['-xf', '-', '-P', '-C', workspace, ...decompress], {
      ownProcessGroup: false, // the worker's timeout must end the extraction with it
      input: async (stdin) => {
        bytes = await download(url, stdin, wait);
      },
    });
    if (tar.exitCode !== 0) {
      // A dropped download kills tar; otherwise tar itself refused the archive.
      throw new RestoreError(tar.inputError ?? `tar exited with code ${tar.exitCode}: ${lastLines(tar)}`, false);
    }
    core.info(`Cache Size: ~${Math.round(bytes / 2 ** 20)} MB (${bytes} B)`);
    core.info('Cache restored successfully');
    return found.matched_key;
  } catch (error) {
    core.warning(`Failed to restore: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}
