import * as core from '@actions/core';
import { Outputs } from './constants.js';
import type { Detection } from './detect/index.js';
import { seconds } from './format.js';
import type { RestoreOutcome } from './cache/restore.js';
import { describeSave, type SaveOutcome } from './cache/save.js';
import type { ProbeReport } from './verify.js';

/** Everything the step learned, filled in stage by stage; outputs and the summary are written from it, even on failure. */
export interface RunRecord {
  detection?: Detection;
  mode?: 'cpu' | 'cuda';
  modeReason?: string;
  /** The layout recognised and what each mode installs (src/lock/layout.ts). */
  layout?: string;
  cudaDriverVersion?: string;
  poetryVersion?: string;
  pythonVersion?: string;
  venvPath?: string;
  pythonPath?: string;
  cacheKey?: string;
  /** The duplicate-pin pre-flight's line, e.g. 'lock: 214 packages, no duplicate pins for cuda'. */
  lockCheck?: string;
  restore?: RestoreOutcome;
  venvDiscarded?: string;
  syncCommand?: string;
  syncSkipped?: string;
  syncAttempts?: number;
  syncMs?: number;
  probe?: ProbeReport;
  problems?: string[];
  save?: SaveOutcome;
  storeSave?: SaveOutcome;
  failure?: string;
}

export function writeOutputs(record: RunRecord): void {
  const detection = record.detection;
  const restore = record.restore;
  const probe = record.probe;
  const set = (name: string, value: string | number | boolean | undefined | null): void => core.setOutput(name, value ?? '');
  set(Outputs.mode, record.mode);
  set(Outputs.gpuDetected, detection ? detection.cudaUsable : undefined);
  set(Outputs.gpuNames, detection?.gpus.map((gpu) => gpu.name).join(', '));
  set(Outputs.driverVersion, detection?.driverVersion);
  // Known as soon as detection ends, so every exit path after it has it.
  set(Outputs.cudaDriverVersion, detection?.cudaDriverVersion ?? record.cudaDriverVersion);
  set(Outputs.cacheHit, restore?.kind === 'exact');
  set(Outputs.restoredFrom, restoredFrom(restore));
  set(Outputs.cacheMatchedKey, restore && 'matchedKey' in restore ? restore.matchedKey : undefined);
  set(Outputs.cacheKey, record.cacheKey);
  set(Outputs.venvPath, record.venvPath);
  set(Outputs.pythonPath, record.pythonPath);
  set(Outputs.torchVersion, probe?.torch_version);
  set(Outputs.torchCudaVersion, probe?.cuda_version);
  set(Outputs.cudaAvailable, probe ? probe.cuda_available === true : undefined);
  set(Outputs.deviceCount, probe ? (probe.device_count ?? 0) : undefined);
}

/** store, cache or none; empty when the step stopped before the restore. */
function restoredFrom(restore: RestoreOutcome | undefined): string | undefined {
  if (!restore) return undefined;
  return (restore.kind === 'exact' || restore.kind === 'partial') && restore.from !== 'local' ? restore.from : 'none';
}

function describeRestore(restore: RestoreOutcome | undefined): string {
  if (!restore) return 'not reached';
  switch (restore.kind) {
    case 'exact':
      return restore.from === 'local' ? 'exact hit: the existing venv holds this key' : `exact hit from the ${restore.from} in ${seconds(restore.durationMs)}`;
    case 'partial':
      return `partial hit from the ${restore.from} (\`${restore.matchedKey}\`) in ${seconds(restore.durationMs)}`;
    case 'existing':
      return `kept the existing venv, synced in place: ${restore.reason}`;
    case 'miss':
      return 'miss';
    case 'skipped':
      return `skipped: ${restore.reason}`;
    case 'failed':
      return `failed (warning): ${restore.reason}`;
  }
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

/**
 * The verdict, then what a reader looks for first (mode, torch build, cache result, times),
 * then the detection sources and the environment folded away in a <details> block.
 */
export function summaryMarkdown(record: RunRecord): string {
  const rows: [string, string][] = [];
  const details: [string, string][] = [];
  if (record.mode) rows.push(['Mode', `${record.mode}${record.modeReason ? ` (${record.modeReason})` : ''}`]);
  if (record.layout) rows.push(['Layout', record.layout]);
  if (record.lockCheck) rows.push(['Lock', record.lockCheck]);
  const probe = record.probe;
  if (probe) {
    const build = probe.torch_installed
      ? `${probe.torch_version} (${probe.cuda_version ? `CUDA ${probe.cuda_version}` : probe.hip_version ? `ROCm ${probe.hip_version}` : 'CPU build'})`
      : `not installed (${probe.import_error})`;
    rows.push(['torch', build]);
    rows.push(['CUDA available', `${probe.cuda_available === true} (${probe.device_count ?? 0} device(s))`]);
    for (const device of probe.devices ?? []) {
      const op = device.matmul?.value?.ok ? 'matmul ok' : `matmul failed: ${device.matmul?.error ?? 'wrong result'}`;
      rows.push([`GPU ${device.index}`, `${device.name ?? '?'}, sm ${device.capability ?? '?'}, ${device.memory_mib ?? '?'} MiB, ${op}`]);
    }
  }
  rows.push(['Cache restore', describeRestore(record.restore)]);
  if (record.venvDiscarded) rows.push(['Restored venv', `discarded: ${record.venvDiscarded}`]);
  if (record.syncSkipped) rows.push(['Sync', `skipped: ${record.syncSkipped}`]);
  else if (record.syncCommand) {
    const tries = record.syncAttempts && record.syncAttempts > 1 ? `, ${record.syncAttempts} tries` : '';
    rows.push(['Sync', `\`${record.syncCommand}\`${record.syncMs !== undefined ? ` in ${seconds(record.syncMs)}${tries}` : ''}`]);
  }
  if (record.storeSave) rows.push(['Venv store', describeSave(record.storeSave)]);
  if (record.save) rows.push(['Cache save', describeSave(record.save)]);

  const detection = record.detection;
  if (detection) {
    details.push(['GPU', detection.reason]);
    if (detection.diagnosis) details.push(['GPU diagnosis', detection.diagnosis]);
    for (const source of detection.sources) details.push([`source: ${source.source}`, `${source.ok ? 'yes' : 'no'}: ${source.detail}`]);
  }
  const cudaDriver = detection?.cudaDriverVersionDetail ?? record.cudaDriverVersion;
  if (cudaDriver) details.push(['Newest CUDA the driver supports', cudaDriver]);
  if (record.pythonVersion) details.push(['Python', record.pythonVersion]);
  if (record.poetryVersion) details.push(['Poetry', record.poetryVersion]);
  if (record.cacheKey) details.push(['Cache key', `\`${record.cacheKey}\``]);

  const verdict = record.failure ? `❌ ${record.failure}` : '✅ verified';
  const folded = details.length ? `\n<details><summary>Detection and environment</summary>\n\n${table(details)}\n\n</details>\n` : '';
  return `### setup-poetry-torch\n\n${verdict}\n\n${table(rows)}\n${folded}`;
}

function table(rows: [string, string][]): string {
  return ['| | |', '|---|---|', ...rows.map(([name, value]) => `| ${escape(name)} | ${escape(value)} |`)].join('\n');
}

export async function writeSummary(record: RunRecord): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    await core.summary.addRaw(summaryMarkdown(record)).write();
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`);
  }
}
