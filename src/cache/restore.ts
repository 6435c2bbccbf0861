import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { CacheKeys } from './keys.js';
import { readVenvKey } from './snapshot.js';
import { findExact, findPartial, restoreEntry, takeEntry, type Store, type StoreEntry } from './store.js';
import type { Manifest } from './tree.js';
import { cachePath, restoreRequest, runWorker, type WorkerRun } from './worker.js';

/**
 * One restore over both places a venv can come from, in the order issue 12 sets: store exact,
 * cache exact, store partial, cache partial, cold. An existing venv comes first: the one that
 * carries the primary key is an exact local hit; an exact hit elsewhere replaces it; otherwise
 * it stays and is synced in place.
 */

export type RestoreSource = 'local' | 'store' | 'cache';

export type RestoreOutcome =
  /** manifest: an exact store hit's record of the venv it moved in, which verification then saw. */
  | { kind: 'exact' | 'partial'; from: RestoreSource; matchedKey: string; durationMs: number; manifest?: Manifest }
  /** discarded: why a restored venv could not be used (it was deleted). */
  | { kind: 'miss'; durationMs: number; discarded?: string }
  /** An existing venv without the primary key, and no exact hit to replace it: synced in place. */
  | { kind: 'existing'; reason: string; durationMs: number }
  | { kind: 'skipped'; reason: string }
  /**
   * stalled: the service did not answer within the bound, so a save would most likely hang as long.
   * reported: @actions/cache itself logged the failure (its "Failed to restore" warning).
   */
  | { kind: 'failed'; reason: string; durationMs: number; stalled?: boolean; reported?: boolean };

export interface RestoreContext {
  venv: string;
  workspace: string;
  keys: CacheKeys;
  /** Undefined when the store is off. */
  store?: Store;
  /** Why the GitHub cache is not used, or undefined when it is. */
  cacheOff?: string;
  cacheTimeoutMs: number;
  /** Why a venv cannot be used with this interpreter (venv.ts's venvProblem). */
  venvProblem: (venv: string) => Promise<string | undefined>;
  /** Removes the venv the action manages (venv.ts's discardVenv). */
  discard: (venv: string, createdByRestore: boolean) => void;
  info: (text: string) => void;
  warning: (text: string) => void;
  worker?: Partial<WorkerRun>;
}

type Hit = Extract<RestoreOutcome, { kind: 'exact' | 'partial' }>;
type Attempt = Hit | Extract<RestoreOutcome, { kind: 'failed' }> | undefined;

export async function restoreVenv(ctx: RestoreContext): Promise<RestoreOutcome> {
  const started = Date.now();
  const elapsed = (): number => Date.now() - started;
  if (!ctx.store && ctx.cacheOff && !fs.existsSync(ctx.venv)) return { kind: 'skipped', reason: ctx.cacheOff };

  if (fs.existsSync(ctx.venv)) {
    const problem = await ctx.venvProblem(ctx.venv);
    if (!problem) return await overExisting(ctx, started);
    ctx.info(`Existing ${ctx.venv} is unusable (${problem}); replacing it.`);
    ctx.discard(ctx.venv, false);
  }

  let failure: Extract<RestoreOutcome, { kind: 'failed' }> | undefined;
  // Only a partial entry in the store must come between the cache's exact and partial answers;
  // without one, a single request asks for the exact key and then the prefix.
  const storePartial = ctx.store && findPartial(ctx.store, ctx.keys.restorePrefix, ctx.venv);
  const steps: Array<() => Promise<Attempt>> = [
    () => Promise.resolve(fromStore(ctx, 'exact', started)),
    async () => fromCache(ctx, storePartial ? [] : [ctx.keys.restorePrefix], started),
    () => Promise.resolve(fromStore(ctx, 'partial', started)),
    // A service that just failed the exact question (after the library's retries, or past the
    // bound) would only make the job wait that long again for the prefix.
    async () => (storePartial && !failure ? fromCache(ctx, [ctx.keys.restorePrefix], started, true) : undefined),
  ];
  for (const step of steps) {
    const attempt = await step();
    if (attempt?.kind === 'failed') {
      failure ??= attempt;
      continue;
    }
    if (!attempt) continue;
    if (failure && !failure.reported) ctx.warning(`Cache restore failed, continuing with the ${attempt.from}'s ${attempt.kind} hit: ${failure.reason}`);
    const problem = await ctx.venvProblem(ctx.venv);
    if (!problem) return attempt;
    ctx.warning(`The virtualenv restored from the ${attempt.from} cannot be used (${problem}); deleting it and syncing cold.`);
    ctx.discard(ctx.venv, true);
    return { kind: 'miss', durationMs: elapsed(), discarded: problem };
  }
  if (failure) {
    // The library's own warning already said why; a failure it could not report gets one here.
    if (!failure.reported) ctx.warning(`Cache restore failed, continuing with a cold sync: ${failure.reason}`);
    return { ...failure, durationMs: elapsed() };
  }
  ctx.info(`No venv for ${ctx.keys.primary} or ${ctx.keys.restorePrefix}* in ${ctx.store ? 'the store or ' : ''}the cache.`);
  return { kind: 'miss', durationMs: elapsed() };
}

function fromStore(ctx: RestoreContext, kind: 'exact' | 'partial', started: number): Attempt {
  if (!ctx.store) return undefined;
  const entry: StoreEntry | undefined =
    kind === 'exact' ? findExact(ctx.store, ctx.keys.primary, ctx.venv) : findPartial(ctx.store, ctx.keys.restorePrefix, ctx.venv);
  if (!entry) return undefined;
  if (kind === 'exact') {
    const taken = takeEntry(ctx.store, entry, ctx.venv);
    if (!taken.ok) {
      if (taken.quiet) ctx.info(`Venv store: ${taken.reason}.`);
      else ctx.warning(`Venv store: ${taken.reason}.`);
      return undefined;
    }
    ctx.info(`${taken.moved ? 'Moved' : 'Linked'} ${ctx.venv} from the venv store (${entry.key}, exact).`);
    return { kind, from: 'store', matchedKey: entry.key, durationMs: Date.now() - started, manifest: taken.manifest };
  }
  const linked = restoreEntry(ctx.store, entry, ctx.venv);
  if (!linked.ok) {
    ctx.warning(`Venv store: ${linked.reason}.`);
    return undefined;
  }
  const { files, copied } = linked.stats;
  ctx.info(`Linked ${ctx.venv} from the venv store (${entry.key}, ${kind}): ${files} files${copied ? `, ${copied} copied across filesystems` : ''}.`);
  return { kind, from: 'store', matchedKey: entry.key, durationMs: Date.now() - started };
}

async function fromCache(ctx: RestoreContext, restoreKeys: string[], started: number, partialOnly = false): Promise<Attempt> {
  if (ctx.cacheOff) return undefined;
  // Partial only: the prefix, which no entry carries as its key, stands in for the primary key.
  const primary = partialOnly ? ctx.keys.restorePrefix : ctx.keys.primary;
  const request = restoreRequest(cachePath(ctx.workspace, ctx.venv), primary, restoreKeys, ctx.cacheTimeoutMs);
  const result = await runWorker(request, { workspace: ctx.workspace, timeoutMs: ctx.cacheTimeoutMs, ...ctx.worker });
  const durationMs = Date.now() - started;
  if (result.error || result.failure) {
    ctx.discard(ctx.venv, true); // whatever a broken download or extraction left behind
    if (result.error) return { kind: 'failed', reason: result.error, durationMs, stalled: result.timedOut };
    return { kind: 'failed', reason: result.failure ?? '', durationMs, reported: true };
  }
  if (!result.matchedKey) {
    ctx.discard(ctx.venv, true); // a failure the library did not log still leaves nothing behind
    return undefined;
  }
  ctx.info(`Restored ${ctx.venv} from the cache entry ${result.matchedKey}.`);
  return { kind: result.matchedKey === ctx.keys.primary ? 'exact' : 'partial', from: 'cache', matchedKey: result.matchedKey, durationMs };
}

/** An existing, working venv: keep it unless it carries the primary key's twin elsewhere. */
async function overExisting(ctx: RestoreContext, started: number): Promise<RestoreOutcome> {
  const durationMs = (): number => Date.now() - started;
  const carried = readVenvKey(ctx.venv);
  if (carried === ctx.keys.primary) {
    ctx.info(`${ctx.venv} already holds the venv verified for ${ctx.keys.primary}.`);
    return { kind: 'exact', from: 'local', matchedKey: carried, durationMs: durationMs() };
  }
  const hasStoreExact = ctx.store && findExact(ctx.store, ctx.keys.primary, ctx.venv);
  const hasCacheExact =
    !hasStoreExact &&
    !ctx.cacheOff &&
    (
      await runWorker(restoreRequest(cachePath(ctx.workspace, ctx.venv), ctx.keys.primary, [], ctx.cacheTimeoutMs, true), {
        workspace: ctx.workspace,
        timeoutMs: ctx.cacheTimeoutMs,
        ...ctx.worker,
      })
    ).matchedKey === ctx.keys.primary;
  if (hasStoreExact || hasCacheExact) {
    // Set aside, not deleted, until the replacement is in place and works.
    const aside = `${ctx.venv}.setup-poetry-torch-previous-${randomBytes(4).toString('hex')}`;
    fs.renameSync(ctx.venv, aside);
    const attempt = hasStoreExact ? fromStore(ctx, 'exact', started) : await fromCache(ctx, [], started);
    if (attempt?.kind === 'exact' && !(await ctx.venvProblem(ctx.venv))) {
      fs.rmSync(aside, { recursive: true, force: true });
      return attempt;
    }
    fs.rmSync(ctx.venv, { recursive: true, force: true });
    fs.renameSync(aside, ctx.venv);
  }
  const reason = carried ? `${ctx.venv} holds the venv verified for ${carried}` : `${ctx.venv} already existed`;
  ctx.info(`${reason}; syncing it in place.`);
  return { kind: 'existing', reason, durationMs: durationMs() };
}
