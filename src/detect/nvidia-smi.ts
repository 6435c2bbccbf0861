/**
 * What nvidia-smi says: the GPUs the driver answers for, through one bounded csv query
 * (and a query without compute_cap for drivers before R510), then the CUDA version from the
 * header of its plain table, which no --query-gpu field gives on every driver.
 */
import type { CommandResult } from '../exec.js';
import { seconds } from '../format.js';
import { abbreviate, firstMeaningfulLine } from './text.js';
import type { DetectDeps, GpuInfo, SourceRecord } from './types.js';

export function nvidiaSmiCandidatesFor(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform !== 'win32') return ['nvidia-smi'];
  // The driver installs nvidia-smi.exe in System32 (recent drivers) or NVSMI (older ones); neither is always on PATH.
  const systemRoot = env.SystemRoot ?? env.SYSTEMROOT ?? 'C:\\Windows';
  return ['nvidia-smi.exe', `${systemRoot}\\System32\\nvidia-smi.exe`, 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'];
}

const QUERY_FIELDS = ['index', 'name', 'driver_version', 'compute_cap', 'memory.total', 'pci.bus_id'];
// Drivers before R510 have no compute_cap field and reject the whole query (exit 2).
const LEGACY_QUERY_FIELDS = QUERY_FIELDS.filter((field) => field !== 'compute_cap');

export function nvidiaSmiQueryArgs(fields: string[] = QUERY_FIELDS): string[] {
  return [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'];
}

/** The CUDA version in the plain table's header, or why there is none. */
export interface SmiHeader {
  cudaVersion?: string;
  failure?: string;
}

export type SmiOutcome =
  | {
      kind: 'listed';
      program: string;
      gpus: GpuInfo[];
      legacyQuery: boolean;
      skippedLines: number;
      exitCode: number;
      message: string;
      header: SmiHeader;
    }
  | { kind: 'not-installed'; tried: string[] }
  | { kind: 'cannot-start'; program: string; message: string }
  | { kind: 'timed-out'; program: string; timeoutMs: number }
  | { kind: 'failed'; program: string; exitCode: number; message: string }
  | { kind: 'no-gpus'; program: string; exitCode: number; message: string }
  | { kind: 'garbage'; program: string; sample: string };

/** `extraCandidates`: where else this system keeps nvidia-smi (WSL2: /usr/lib/wsl/lib, not always on PATH). */
export async function queryNvidiaSmi(deps: DetectDeps, extraCandidates: string[] = []): Promise<SmiOutcome> {
  const candidates = deps.nvidiaSmiCandidates ?? [...nvidiaSmiCandidatesFor(deps.platform, deps.env), ...extraCandidates];
  const tried: string[] = [];
  for (const program of candidates) {
    const run = (fields: string[]): Promise<CommandResult> =>
      deps.run(program, nvidiaSmiQueryArgs(fields), { env: deps.env, timeoutMs: deps.nvidiaSmiTimeoutMs });
    let result = await run(QUERY_FIELDS);
    if (result.spawnError !== undefined) {
      if (isNotFound(result.spawnError)) {
        tried.push(program);
        continue;
      }
      return { kind: 'cannot-start', program, message: result.spawnError };
    }
    let legacyQuery = false;
    if (!result.timedOut && result.exitCode !== 0 && /compute_cap/.test(outputOf(result)) && /not a valid field/i.test(outputOf(result))) {
      legacyQuery = true;
      result = await run(LEGACY_QUERY_FIELDS);
    }
    const outcome = interpretQuery(program, result, legacyQuery ? LEGACY_QUERY_FIELDS : QUERY_FIELDS, legacyQuery, deps.nvidiaSmiTimeoutMs);
    if (outcome.kind !== 'listed') return outcome;
    // Only a driver that answered the query is asked again; the header call has the same bound.
    const table = await deps.run(program, [], { env: deps.env, timeoutMs: deps.nvidiaSmiTimeoutMs });
    return { ...outcome, header: readHeader(table, deps.nvidiaSmiTimeoutMs) };
  }
  return { kind: 'not-installed', tried };
}

function readHeader(result: CommandResult, timeoutMs: number): SmiHeader {
  if (result.timedOut) return { failure: `no answer within ${seconds(timeoutMs)}` };
  if (result.spawnError !== undefined) return { failure: result.spawnError };
  if (result.exitCode !== 0) return { failure: `exit ${result.exitCode}: ${firstMeaningfulLine(outputOf(result)) || 'no output'}` };
  return parseSmiHeader(result.stdout);
}

/**
 * "| NVIDIA-SMI 590.48.01  Driver Version: 590.48.01  CUDA Version: 13.1 |", and from R610 on
 * "| NVIDIA-SMI 610.43.02  KMD Version: 610.43.02  CUDA UMD Version: 13.3 |". Drivers print
 * "ERR!" (WSL2 with a mismatched library) or "N/A" (Jetson) where they do not know.
 */
export function parseSmiHeader(text: string): SmiHeader {
  const shown = /CUDA (?:UMD )?Version:\s*(\S+)/.exec(text)?.[1];
  if (shown === undefined) return { failure: 'no CUDA Version in its header' };
  if (!/^\d+\.\d+$/.test(shown)) return { failure: `its header shows CUDA Version: ${shown}` };
  return { cudaVersion: shown };
}

export function interpretQuery(program: string, result: CommandResult, fields: string[], legacyQuery: boolean, timeoutMs: number): SmiOutcome {
  if (result.timedOut) return { kind: 'timed-out', program, timeoutMs };
  if (result.spawnError !== undefined) return { kind: 'cannot-start', program, message: result.spawnError };
  const message = firstMeaningfulLine(outputOf(result));
  const lines = result.stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const gpus = lines.map((line) => parseQueryRow(line, fields)).filter((gpu): gpu is GpuInfo => gpu !== undefined);
  if (gpus.length > 0) {
    return {
      kind: 'listed',
      program,
      gpus,
      legacyQuery,
      skippedLines: lines.length - gpus.length,
      exitCode: result.exitCode,
      message,
      header: { failure: 'not asked' },
    };
  }
  // nvidia-smi prints its errors on stdout; "No devices were found" comes with exit 6.
  if (/no devices were found/i.test(outputOf(result)) || (result.exitCode === 0 && lines.length === 0)) {
    return { kind: 'no-gpus', program, exitCode: result.exitCode, message: message || 'empty output' };
  }
  if (result.exitCode !== 0) return { kind: 'failed', program, exitCode: result.exitCode, message: message || 'no output' };
  return { kind: 'garbage', program, sample: lines[0].slice(0, 120) };
}

function parseQueryRow(line: string, fields: string[]): GpuInfo | undefined {
  const values = line.split(',').map((value) => value.trim());
  if (values.length !== fields.length) return undefined;
  const field = (name: string): string | undefined => {
    const value = values[fields.indexOf(name)];
    // nounits still prints "[N/A]" / "[Not Supported]" for missing values.
    return value === undefined || value === '' || value.startsWith('[') ? undefined : value;
  };
  const index = field('index');
  const name = field('name');
  if (index === undefined || !/^\d+$/.test(index) || name === undefined) return undefined;
  const driverVersion = field('driver_version');
  const capability = field('compute_cap');
  const memory = field('memory.total');
  const busId = field('pci.bus_id');
  return {
    index: Number(index),
    name,
    busId: busId && /^[0-9a-f]+:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(busId) ? busId : undefined,
    computeCapability: capability && /^\d+\.\d$/.test(capability) ? capability : undefined,
    memoryMiB: memory && /^\d+$/.test(memory) ? Number(memory) : undefined,
    driverVersion: driverVersion && /^\d+(\.\d+)+$/.test(driverVersion) ? driverVersion : undefined,
  };
}

export function smiRecord(smi: SmiOutcome): SourceRecord {
  switch (smi.kind) {
    case 'listed': {
      const rows = smi.gpus.map((gpu) => `${gpu.index}: ${gpu.name}${gpu.computeCapability ? ` (${gpu.computeCapability})` : ''}`);
      const notes = [
        smi.legacyQuery ? 'this nvidia-smi has no compute_cap field, capability unknown' : '',
        smi.skippedLines ? `${smi.skippedLines} unparsed line(s) skipped` : '',
        smi.exitCode !== 0 ? `exit ${smi.exitCode}: ${smi.message}` : '',
      ].filter(Boolean);
      return {
        source: 'nvidia-smi',
        ok: true,
        detail: `${smi.program}: ${smi.gpus.length} GPU(s): ${abbreviate(rows, 4)}${notes.length ? ` (${notes.join('; ')})` : ''}`,
      };
    }
    case 'not-installed':
      return { source: 'nvidia-smi', ok: false, detail: `not installed (tried ${smi.tried.join(', ')})` };
    case 'timed-out':
      return { source: 'nvidia-smi', ok: false, detail: `${smi.program}: no answer within ${seconds(smi.timeoutMs)}, stopped` };
    default:
      return { source: 'nvidia-smi', ok: false, detail: smiComplaint(smi) };
  }
}

export function smiComplaint(smi: SmiOutcome): string {
  switch (smi.kind) {
    case 'failed':
      return `nvidia-smi failed (exit ${smi.exitCode}): ${smi.message}`;
    case 'cannot-start':
      return `nvidia-smi could not be started: ${smi.message}`;
    case 'no-gpus':
      return `nvidia-smi listed no GPUs${smi.exitCode !== 0 ? ` (exit ${smi.exitCode}: ${smi.message})` : ''}`;
    case 'garbage':
      return `nvidia-smi printed no GPU rows: '${smi.sample}'`;
    case 'timed-out':
      return `nvidia-smi did not answer within ${seconds(smi.timeoutMs)} (hung driver?)`;
    case 'not-installed':
      return 'nvidia-smi is not installed';
    case 'listed':
      return `nvidia-smi listed ${smi.gpus.length} GPU(s)`;
  }
}

function isNotFound(spawnError: string): boolean {
  return /ENOENT|not found|cannot find/i.test(spawnError);
}

function outputOf(result: CommandResult): string {
  return `${result.stdout}\n${result.stderr}`;
}
