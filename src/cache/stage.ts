import * as core from '@actions/core';
import * as os from 'node:os';
import * as path from 'node:path';
import { States } from '../constants.js';
import { storeConfig } from './config.js';
import type { CacheKeys } from './keys.js';
import { restoreVenv, type RestoreContext, type RestoreOutcome } from './restore.js';
import { decideSave, type SaveOutcome, type SavePlan } from './save.js';
import { prepareSnapshot, writeVenvKey, type Snapshot } from './snapshot.js';
import { findExact, type Store } from './store.js';
import { cacheMode, cacheUnavailableReason, startSnapshotLinker } from './worker.js';

/** The restore and save stages' wiring: main.ts calls these two. */

export interface Places {
  store?: Store;
  storeOff?: string;
  cacheOff?: string;
}

/** Where venvs may come from and go to on this runner, from the inputs and the runner's env. */
export function places(inputs: { cache: boolean; venvStore: string; venvStoreMaxSize: string }, env: NodeJS.ProcessEnv = process.env): Places {
  const config = storeConfig({ dir: inputs.venvStore, maxSize: inputs.venvStoreMaxSize }, env);
  const cacheOff = inputs.cache ? cacheUnavailableReason(env) : 'cache: false';
  if (inputs.cache && cacheOff) core.notice(`Cache skipped: ${cacheOff}.`);
  return 'off' in config ? { storeOff: config.off, cacheOff } : { store: config, cacheOff };
}

export async function restoreStage(options: {
  places: Places;
  venv: string;
  workspace: string;
  keys: CacheKeys;
  cacheTimeoutMs: number;
  venvProblem: RestoreContext['venvProblem'];
  discard: RestoreContext['discard'];
}): Promise<RestoreOutcome> {
  const { places: where, ...rest } = options;
  return restoreVenv({ ...rest, store: where.store, cacheOff: where.cacheOff, info: core.info, warning: core.warning });
}

export interface SaveStage {
  cache: SaveOutcome;
  store: SaveOutcome;
}

/**
 * Right after verification: records the key in the venv, records exactly what was verified and
 * starts its snapshot in the background, and hands the post step its plan. The step itself saves
 * nothing and waits for no copy.
 */
export function planSave(options: {
  places: Places;
  restore: RestoreOutcome;
  venv: string;
  workspace: string;
  key: string;
  cacheTimeoutMs: number;
}): SaveStage {
  writeVenvKey(options.venv, options.key);
  const decision = decideSave({
    verified: true,
    restore: options.restore,
    storeOff: options.places.storeOff,
    cacheOff: options.places.cacheOff,
    cacheMode: cacheMode(),
  });
  const later: SaveOutcome = { saved: false, reason: 'in the post step', expected: true, deferred: true };
  const outcome = (choice: true | string): SaveOutcome => (choice === true ? later : { saved: false, reason: choice, expected: true });
  const stage = { cache: outcome(decision.cache), store: outcome(decision.store) };
  if (options.restore.kind === 'failed' && options.restore.stalled && decision.cache !== true) {
    // Not the normal course: say so.
    stage.cache = { saved: false, reason: decision.cache };
    core.warning(`The virtualenv was not saved to the cache: ${decision.cache}`);
  }
  const store = options.places.store;
  if (decision.store === true && store && findExact(store, options.key, options.venv)) stage.store = outcome('the store already holds this key');
  const toStore = stage.store === later;
  if (decision.cache !== true && !toStore) return stage;
  // RUNNER_TEMP, which the runner empties after the job, so a post step that never runs (a later
  // step failed) leaves nothing behind; on a runner it shares the store's filesystem, so
  // publishing is one rename.
  const parentDir = path.resolve(process.env.RUNNER_TEMP || os.tmpdir());
  let snapshot: Snapshot;
  try {
    snapshot = prepareSnapshot(options.venv, options.workspace, parentDir, options.restore.kind === 'exact' ? options.restore.manifest : undefined);
  } catch (error) {
    // A failed save is a warning, never a failed job; without the record nothing verified can be saved.
    const reason = `could not record the verified venv in ${parentDir} (${(error as Error).message})`;
    const targets = [decision.cache === true && 'the cache', toStore && 'the venv store'].filter(Boolean).join(' or ');
    core.warning(`The virtualenv was not saved to ${targets}: ${reason}`);
    if (decision.cache === true) stage.cache = { saved: false, reason };
    if (toStore) stage.store = { saved: false, reason };
    return stage;
  }
  const notStarted = startSnapshotLinker(options.venv, snapshot);
  if (notStarted) core.info(`The snapshot's linker did not start (${notStarted}); the post step links it.`);
  const plan: SavePlan = {
    key: options.key,
    venv: options.venv,
    workspace: options.workspace,
    snapshot: { root: snapshot.root, venv: snapshot.venv, workspace: snapshot.workspace },
    store: toStore ? store : undefined,
    cache: decision.cache === true,
    cacheLookup: options.restore.kind !== 'failed',
    cacheTimeoutMs: options.cacheTimeoutMs,
  };
  core.saveState(States.savePlan, JSON.stringify(plan));
  return stage;
}
