import * as core from '@actions/core';
import { Outputs } from './constants.js';
import type { Detection } from './detect.js';
import type { RestoreOutcome, SaveOutcome } from './cache.js';
import type { ProbeReport } from './verify.js';

/** Everything the step learned, filled in stage by stage; outputs and the summary are written from it, even on failure. */
export interface RunRecord {
  detection?: Detection;
  mode?: 'cpu' | 'cuda';
  modeReason?: string;
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
  set(Outputs.cudaDriverVersion, record.cudaDriverVersion);
  set(Outputs.cacheHit, restore?.kind === 'exact');
  set(Outputs.cacheMatchedKey, restore && 'matchedKey' in restore ? restore.matchedKey : undefined);
  set(Outputs.cacheKey, record.cacheKey);
  set(Outputs.venvPath, record.venvPath);
  set(Outputs.pythonPath, record.pythonPath);
  set(Outputs.torchVersion, probe?.torch_version);
  set(Outputs.torchCudaVersion, probe?.cuda_version);
  set(Outputs.cudaAvailable, probe ? probe.cuda_available === true : undefined);
  set(Outputs.deviceCount, probe ? (probe.device_count ?? 0) : undefined);
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '' : `${(ms / 1000).toFixed(1)} s`;
}

function describeRestore(restore: RestoreOutcome | undefined): string {
  if (!restore) return 'not reached';
  switch (restore.kind) {
    case 'exact':
      return `exact hit in ${seconds(restore.durationMs)}`;
    case 'partial':
      return `partial hit (\`${restore.matchedKey}\`) in ${seconds(restore.durationMs)}`;
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

export function summaryMarkdown(record: RunRecord): string {
  const rows: [string, string][] = [];
  const detection = record.detection;
  if (detection) {
    rows.push(['GPU', detection.reason]);
    if (detection.diagnosis) rows.push(['GPU diagnosis', detection.diagnosis]);
    for (const source of detection.sources) rows.push([`source: ${source.source}`, `${source.ok ? 'yes' : 'no'}: ${source.detail}`]);
  }
  if (record.mode) rows.push(['Mode', `${record.mode}${record.modeReason ? ` (${record.modeReason})` : ''}`]);
  if (record.cudaDriverVersion) rows.push(['Newest CUDA the driver supports', record.cudaDriverVersion]);
  if (record.pythonVersion) rows.push(['Python', record.pythonVersion]);
  if (record.poetryVersion) rows.push(['Poetry', record.poetryVersion]);
  if (record.lockCheck) rows.push(['Lock', record.lockCheck]);
  if (record.cacheKey) rows.push(['Cache key', `\`${record.cacheKey}\``]);
  rows.push(['Cache restore', describeRestore(record.restore)]);
  if (record.venvDiscarded) rows.push(['Restored venv', `discarded: ${record.venvDiscarded}`]);
  if (record.syncSkipped) rows.push(['Sync', `skipped: ${record.syncSkipped}`]);
  else if (record.syncCommand) {
    const tries = record.syncAttempts && record.syncAttempts > 1 ? `, ${record.syncAttempts} tries` : '';
    rows.push(['Sync', `\`${record.syncCommand}\`${record.syncMs !== undefined ? ` in ${seconds(record.syncMs)}${tries}` : ''}`]);
  }
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
  if (record.save) rows.push(['Cache save', record.save.saved ? `saved in ${seconds(record.save.durationMs)}` : `not saved: ${record.save.reason}`]);
  const verdict = record.failure ? `❌ ${record.failure}` : '✅ verified';
  const table = ['| | |', '|---|---|', ...rows.map(([name, value]) => `| ${escape(name)} | ${escape(value)} |`)].join('\n');
  return `### setup-poetry-torch\n\n${verdict}\n\n${table}\n`;
}

export async function writeSummary(record: RunRecord): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    await core.summary.addRaw(summaryMarkdown(record)).write();
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`);
  }
}
