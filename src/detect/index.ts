/**
 * Finds out whether this runner can run CUDA: NVIDIA hardware on the PCI bus, a loaded
 * driver, an nvidia-smi that answers, device nodes, and environment variables that hide
 * GPUs. Every source is recorded with what it said, so a wrong guess can be explained
 * from the log alone. Nothing here throws: an unreadable source is a recorded answer.
 */
import { runCommand } from '../exec.js';
import { decide, type Facts } from './decide.js';
import { listDeviceNodes } from './devices.js';
import { readModuleDriverVersion, readProcDriverVersion } from './driver.js';
import { hiddenByEnvironment } from './environment.js';
import { queryNvidiaSmi } from './nvidia-smi.js';
import { scanPci } from './sysfs.js';
import type { DetectDeps, Detection } from './types.js';

export type { DetectDeps, Detection, GpuInfo, SourceRecord } from './types.js';
export { nvidiaSmiCandidatesFor, nvidiaSmiQueryArgs } from './nvidia-smi.js';
export { parseProcDriverVersion } from './driver.js';

/**
 * SETUP_POETRY_TORCH_SYSTEM_ROOT moves where sys/, proc/ and dev/ are read from: for a
 * container that mounts the host's elsewhere, and for end-to-end tests fed recorded trees.
 */
export function defaultDetectDeps(env: NodeJS.ProcessEnv = process.env): DetectDeps {
  return { platform: process.platform, root: env.SETUP_POETRY_TORCH_SYSTEM_ROOT || '/', env, run: runCommand, nvidiaSmiTimeoutMs: 10_000 };
}

export async function detectGpu(deps: DetectDeps): Promise<Detection> {
  return decide(await collectFacts(deps));
}

/** Reads every source for this platform, in the order the log lists them. */
async function collectFacts(deps: DetectDeps): Promise<Facts> {
  const { platform, root } = deps;
  if (platform === 'linux') {
    const pci = await scanPci(root);
    const procDriver = await readProcDriverVersion(root);
    const moduleDriver = await readModuleDriverVersion(root);
    const smi = await queryNvidiaSmi(deps);
    const nodes = await listDeviceNodes(root);
    return { platform, pci, procDriver, moduleDriver, smi, nodes, hidden: hiddenByEnvironment(deps.env) };
  }
  if (platform === 'win32') return { platform, smi: await queryNvidiaSmi(deps), hidden: hiddenByEnvironment(deps.env) };
  return { platform };
}
