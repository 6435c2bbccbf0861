/**
 * The decision under WSL2: the GPU is the Windows driver's, passed through /dev/dxg, so
 * failures are worded for WSL (the fix is on Windows), never as a missing PCI GPU or a
 * missing Linux kernel module, which WSL2 never has.
 */
import type { LinuxFacts } from './decide.js';
import { libcudaRecord } from './libcuda.js';
import { smiComplaint, smiRecord } from './nvidia-smi.js';
import type { Detection, GpuInfo, SourceRecord } from './types.js';
import { blocked, describeHardware, hiddenDetection, type Base, type Verdict } from './verdict.js';

const WSL_FIX =
  'WSL2 passes the GPU through /dev/dxg from the NVIDIA driver on Windows: install or update that driver on the Windows side (not inside the distribution), then restart WSL (wsl --shutdown)';

export function decideWsl(facts: LinuxFacts): Detection {
  const { wsl, smi, hidden, libcuda } = facts;
  const sources: SourceRecord[] = [smiRecord(smi), hidden.record];
  if (wsl.record) sources.unshift(wsl.record);
  if (libcuda) sources.push(libcudaRecord(libcuda));
  const listed = smi.kind === 'listed' ? smi.gpus : undefined;
  const gpus: GpuInfo[] = listed ?? (libcuda?.kind === 'answered' ? libcuda.devices : []);
  // Under WSL2 the driver version is the Windows driver's (560.76 beside nvidia-smi 560.28.03).
  const driverVersion = listed?.find((gpu) => gpu.driverVersion)?.driverVersion;
  const base: Base = { gpus, driverVersion, hardwarePresent: gpus.length > 0, sources, system: 'wsl2' };
  const hardware = describeHardware(gpus);
  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);
  return { ...base, ...wslVerdict(facts, hardware, driverVersion) };
}

function wslVerdict(facts: LinuxFacts, hardware: string, driverVersion: string | undefined): Verdict {
  const { wsl, smi, libcuda } = facts;
  if (smi.kind === 'listed') {
    return { cudaUsable: true, reason: `found ${hardware} (nvidia-smi, WSL2 through /dev/dxg)${driverVersion ? `, Windows driver ${driverVersion}` : ''}` };
  }
  if (!wsl.dxg) {
    return blocked(
      'WSL without /dev/dxg: no GPU is passed through (WSL 1, or a Windows or WSL version without GPU support). CUDA under WSL needs WSL 2 and the NVIDIA driver on Windows',
    );
  }
  if (smi.kind !== 'not-installed') {
    // "GPU access blocked by the operating system": Windows keeps the GPU from WSL (a TCC-mode data-center GPU, a Windows Server host).
    const blockedByHost = smi.kind === 'failed' && /blocked by the operating system/i.test(smi.message) ? ' (Windows does not share this GPU with WSL)' : '';
    return blocked(`WSL2: ${smiComplaint(smi).replace(/\.$/, '')}${blockedByHost}. ${WSL_FIX}`);
  }
  if (libcuda?.kind === 'answered') {
    if (libcuda.initError) return blocked(`WSL2: libcuda (CUDA ${libcuda.cudaVersion}) cannot use the GPU: ${libcuda.initError}. ${WSL_FIX}`);
    if (libcuda.devices.length > 0) return { cudaUsable: true, reason: `found ${hardware} (libcuda, WSL2 through /dev/dxg), CUDA ${libcuda.cudaVersion}` };
    return blocked(`WSL2: libcuda (CUDA ${libcuda.cudaVersion}) sees no CUDA device. ${WSL_FIX}`);
  }
  const libcudaSaid = libcuda?.kind === 'failed' ? libcuda.message : 'not asked';
  return blocked(`WSL2: /dev/dxg is present but neither nvidia-smi nor libcuda answered (nvidia-smi not found; libcuda: ${libcudaSaid}). ${WSL_FIX}`);
}
