import * as core from '@actions/core';
import { States } from '../constants.js';
import type { RestoreOutcome } from './restore.js';
import { dropSnapshot, finishSnapshot, snapshotChange, snapshotManifest, type Snapshot } from './snapshot.js';
import { seconds } from '../format.js';
import { publishEntry, type Store } from './store.js';
import { cacheMode, cachePath, runWorker, saveRequest, type WorkerRun } from './worker.js';

/** expected: nothing went wrong, this job just may not or need not write (no warning). */
export type SaveOutcome = { saved: true; durationMs: number } | { saved: false; reason: string; expected?: boolean; deferred?: boolean };

/** Where a verified venv goes: true, or why not. */
export interface SaveDecision {
  store: true | string;
  cache: true | string;
}

/** The save policy, pure: what the post step will save, from what the restore found. */
export function decideSave(facts: {
  verified: boolean;
  restore: RestoreOutcome | undefined;
  storeOff?: string;
  cacheOff?: string;
  cacheMode: string;
}): SaveDecision {
  if (!facts.verified || !facts.restore) return { store: 'verification failed', cache: 'verification failed' };
  const restore = facts.restore;
  const exactFrom = restore.kind === 'exact' ? restore.from : undefined;
  // An exact store hit took the entry out of the store: the post step puts it back.
  const store = facts.storeOff ?? true;
  let cache: true | string = true;
  if (facts.cacheOff) cache = facts.cacheOff;
  else if (facts.cacheMode === 'read' || facts.cacheMode === 'none')
    cache = `ACTIONS_CACHE_MODE is '${facts.cacheMode}': this job may restore but not write the cache`;
  else if (exactFrom) cache = `exact hit (${exactFrom === 'local' ? 'the existing venv' : `from the ${exactFrom}`}), nothing new to save`;
  else if (restore.kind === 'failed' && restore.stalled)
    // Archiving first and then waiting out the same bound again would double the stall.
    cache = `not tried: the cache service stalled during the restore (${restore.reason})`;
  return { store, cache };
}

/** What the main step hands the post step (through saveState). */
export interface SavePlan {
  key: string;
  venv: string;
  workspace: string;
  snapshot: Pick<Snapshot, 'root' | 'venv' | 'workspace'>;
  store?: Store;
  cache: boolean;
  /**
   * Whether the save asks first if the key exists. Not after a restore that saw the service fail:
   * each question would wait out the library's retries again; the save itself still tries once.
   */
  cacheLookup?: boolean;
  cacheTimeoutMs: number;
}

export interface SaveReport {
  store?: SaveOutcome;
  cache?: SaveOutcome;
}

/**
 * The post step: saves the snapshot started right after verification, so what later steps did to
 * the venv is never saved. A failed save is a warning, never a failed job.
 */
export async function saveSnapshot(
  plan: SavePlan,
  log: { info: (text: string) => void; warning: (text: string) => void },
  worker: Partial<WorkerRun> = {},
): Promise<SaveReport> {
  const report: SaveReport = {};
  const notSaved = (reason: string): SaveReport => {
    const targets = [plan.cache && 'the cache', plan.store && 'the venv store'].filter(Boolean).join(' or ');
    log.warning(`The virtualenv was not saved to ${targets}: ${reason}.`);
    return { store: plan.store && { saved: false, reason }, cache: plan.cache ? { saved: false, reason } : undefined };
  };
  try {
    const linked = await finishSnapshot(plan.venv, plan.snapshot, plan.cacheTimeoutMs);
    if (linked.error) return notSaved(`the snapshot of the verified venv could not be taken (${linked.error})`);
    if (linked.change) return notSaved(`a later step changed the venv before its snapshot was complete (${linked.change})`);
    const change = snapshotChange(plan.snapshot);
    if (change) return notSaved(`the venv was changed in place after verification (${change}), so the snapshot no longer holds what was verified`);
    // The cache archives the snapshot where it lies; the store then takes it by rename.
    if (plan.cache) report.cache = await saveToCache(plan, log, worker);
    if (plan.store) {
      const started = Date.now();
      const published = publishEntry(plan.store, plan.snapshot.venv, plan.key, plan.venv, snapshotManifest(plan.snapshot.root));
      if (published.published) {
        log.info(`Published to the venv store: ${published.dir}.`);
        if (published.evicted.length) log.info(`Evicted from the venv store (least recently used): ${published.evicted.join(', ')}.`);
        report.store = { saved: true, durationMs: Date.now() - started };
      } else {
        log.info(`Not published to the venv store: ${published.reason}.`);
        report.store = { saved: false, reason: published.reason, expected: !published.reason.includes('could not') };
        if (!report.store.expected) log.warning(`The virtualenv was not published to the venv store: ${published.reason}`);
      }
    }
  } finally {
    dropSnapshot(plan.snapshot);
  }
  return report;
}

async function saveToCache(
  plan: SavePlan,
  log: { info: (text: string) => void; warning: (text: string) => void },
  worker: Partial<WorkerRun>,
): Promise<SaveOutcome> {
  const mode = cacheMode();
  if (mode === 'read' || mode === 'none') {
    const reason = `ACTIONS_CACHE_MODE is '${mode}': this job may restore but not write the cache`;
    log.info(`Not saved: ${reason}.`);
    return { saved: false, reason, expected: true };
  }
  const started = Date.now();
  // The snapshot's workspace sees the snapshot at the venv's own relative path: same archive, same version.
  const result = await runWorker(saveRequest(cachePath(plan.workspace, plan.venv), plan.key, plan.cacheLookup ?? true), {
    workspace: plan.snapshot.workspace,
    timeoutMs: plan.cacheTimeoutMs,
    ...worker,
  });
  let outcome: SaveOutcome;
  if (result.error) outcome = { saved: false, reason: result.error };
  else if (result.exists) {
    const reason = 'an entry with this key already exists (a job with the same key saved it first)';
    log.info(`Not saved: ${reason}.`);
    outcome = { saved: false, reason, expected: true };
  } else if (result.taken) {
    const reason = 'an entry with this key already exists or is being saved (a job with the same key reserved it first)';
    log.info(`Not saved: ${reason}.`);
    outcome = { saved: false, reason, expected: true };
  } else if (result.cacheId === undefined || result.cacheId === -1) {
    // -1: the library already logged why (service refused, upload failed, another job is saving it now).
    outcome = { saved: false, reason: 'the cache service did not accept the entry (see the log above)' };
  } else outcome = { saved: true, durationMs: Date.now() - started };
  if (!outcome.saved && !outcome.expected) log.warning(`The virtualenv was not saved to the cache: ${outcome.reason}`);
  else if (outcome.saved) log.info(`Saved the virtualenv to the cache as ${plan.key}.`);
  return outcome;
}

/** One bundle serves both steps (action.yml: runs.main and runs.post), told apart by a state the main step sets. */
export function isPostStep(): boolean {
  return core.getState(States.isPost) === 'true';
}

export function markMainStep(): void {
  core.saveState(States.isPost, 'true');
}

/** The post step's whole job: save what the main step planned, if it planned anything. */
export async function postMain(): Promise<void> {
  const raw = core.getState(States.savePlan);
  if (!raw) {
    core.info('Nothing to save: the main step verified no new venv, or stopped before verification.');
    return;
  }
  let report: SaveReport = {};
  try {
    report = await core.group('Save the virtualenv', () => saveSnapshot(JSON.parse(raw) as SavePlan, { info: core.info, warning: core.warning }));
  } catch (error) {
    core.warning(`The virtualenv was not saved: ${(error as Error).message}`);
  }
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(saveSummary(report)).write();
}

export function describeSave(save: SaveOutcome): string {
  if (save.saved) return `saved in ${seconds(save.durationMs)}`;
  return save.deferred ? 'in the post step' : `not saved: ${save.reason}`;
}

/** The post step's rows of the job summary. */
export function saveSummary(report: SaveReport): string {
  const rows: string[] = [];
  if (report.store) rows.push(`| Venv store | ${describeSave(report.store)} |`);
  if (report.cache) rows.push(`| Cache save | ${describeSave(report.cache)} |`);
  return rows.length ? `\n| setup-poetry-torch (post) | |\n|---|---|\n${rows.map((row) => row.replace(/\n/g, ' ')).join('\n')}\n` : '';
}
