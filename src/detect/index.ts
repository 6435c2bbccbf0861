/**
 * Finds out whether this runner can run CUDA: NVIDIA hardware on the PCI bus, a loaded
 * driver, an nvidia-smi that answers, device nodes, and environment variables that hide
 * GPUs. Every source is recorded with what it said, so a wrong guess can be explained
 * from the log alone. Nothing here throws: an unreadable source is a recorded answer.
 */
import path from 'node:path';
import { runCommand } from '../exec.js';
import { decide, type Facts } from './decide.js';
import { listDeviceNodes } from './devices.js';
import { readModuleDriverVersion, readProcDriverVersion } from './driver.js';
import { hiddenByEnvironment } from './environment.js';
import { askLibcuda } from './libcuda.js';
import { queryNvidiaSmi } from './nvidia-smi.js';
import { scanPci } from './sysfs.js';
import { readTegra } from './tegra.js';
import type { DetectDeps, Detection } from './types.js';
import { readWsl, WSL_LIB_DIR } from './wsl.js';

export type { DetectDeps, Detection, GpuInfo, SourceRecord } from './types.js';
export { nvidiaSmiCandidatesFor, nvidiaSmiQueryArgs } from './nvidia-smi.js';
export { parseProcDriverVersion } from './driver.js';
export { parseSmiHeader } from './nvidia-smi.js';
export { parseL4tRelease } from './tegra.js';

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
    const tegra = await readTegra(root);
    const wsl = await readWsl(root);
    const smi = await queryNvidiaSmi(deps, wsl.isWsl ? [path.join(root, WSL_LIB_DIR, 'nvidia-smi')] : []);
    const nodes = await listDeviceNodes(root);
    const hidden = hiddenByEnvironment(deps.env);
    // libcuda is asked where nvidia-smi is missing but a driver may answer; on a Jetson or under
    // WSL2 also where nvidia-smi failed, since there it is the only other way to reach the GPU.
    const driverLoaded = procDriver.version !== undefined || moduleDriver.version !== undefined;
    const askDriver = smi.kind === 'not-installed' ? driverLoaded || tegra.isTegra || wsl.isWsl : smi.kind !== 'listed' && (tegra.isTegra || wsl.isWsl);
    const libcuda = askDriver && !hidden.setting ? await askLibcuda(deps) : undefined;
    return { platform, pci, procDriver, moduleDriver, smi, nodes, hidden, tegra, wsl, libcuda };
  }
  if (platform === 'win32') return { platform, smi: await queryNvidiaSmi(deps), hidden: hiddenByEnvironment(deps.env) };
  return { platform };
}
