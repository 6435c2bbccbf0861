/**
 * libcuda's own answer (cuDriverGetVersion, cuInit, the devices) through src/cuda_driver.py
 * and the runner's python3: where nvidia-smi is missing, the driver library still knows.
 */
import { bundledScript } from '../python.js';
import { lastLines } from '../exec.js';
import type { DetectDeps, GpuInfo, SourceRecord } from './types.js';

export type LibcudaAnswer = { kind: 'answered'; cudaVersion: string; devices: GpuInfo[]; initError?: string } | { kind: 'failed'; message: string };

const MARKER = 'SETUP_POETRY_TORCH_CUDA_DRIVER ';

interface Report {
  error?: string;
  driver_cuda_version?: string;
  init_error?: string;
  devices?: { index: number; name: string; capability: string; memory_mib: number }[];
}

export function pythonFor(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'python' : 'python3';
}

export async function askLibcuda(deps: DetectDeps): Promise<LibcudaAnswer> {
  const python = deps.python ?? pythonFor(deps.platform);
  const result = await deps.run(python, [bundledScript('cuda_driver.py')], { env: deps.env, timeoutMs: deps.nvidiaSmiTimeoutMs });
  if (result.timedOut) return { kind: 'failed', message: `cuda_driver.py did not answer within ${deps.nvidiaSmiTimeoutMs / 1000} s` };
  if (result.spawnError !== undefined) return { kind: 'failed', message: `${python} could not be started (${result.spawnError})` };
  const line = result.stdout.split(/\r?\n/).find((text) => text.startsWith(MARKER));
  let report: Report | undefined;
  try {
    report = line ? (JSON.parse(line.slice(MARKER.length)) as Report) : undefined;
  } catch {
    report = undefined;
  }
  if (!report) return { kind: 'failed', message: `cuda_driver.py printed no report (exit ${result.exitCode}: ${lastLines(result, 1) || 'no output'})` };
  if (report.error !== undefined || report.driver_cuda_version === undefined) return { kind: 'failed', message: report.error ?? 'no version' };
  const devices = (report.devices ?? []).map((device): GpuInfo => ({
    index: device.index,
    name: device.name,
    computeCapability: device.capability,
    memoryMiB: device.memory_mib,
  }));
  return { kind: 'answered', cudaVersion: report.driver_cuda_version, devices, initError: report.init_error };
}

export function libcudaRecord(answer: LibcudaAnswer): SourceRecord {
  if (answer.kind === 'failed') return { source: 'libcuda', ok: false, detail: answer.message };
  const devices = answer.devices.map((gpu) => `${gpu.index}: ${gpu.name} (${gpu.computeCapability})`).join(', ');
  const seen = answer.initError ? `; ${answer.initError}` : `; ${answer.devices.length} device(s)${devices ? `: ${devices}` : ''}`;
  return { source: 'libcuda', ok: !answer.initError && answer.devices.length > 0, detail: `cuDriverGetVersion: CUDA ${answer.cudaVersion}${seen}` };
}
