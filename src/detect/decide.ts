/**
 * The one decision over what every source said: whether CUDA can work here, and the one
 * line that says why. Pure: the sources are read before (index.ts), so every combination
 * is tested without a filesystem or a program.
 */
import { chooseCudaVersion } from './cuda-version.js';
import { decideJetson } from './decide-jetson.js';
import { decideWsl } from './decide-wsl.js';
import type { DeviceNodes } from './devices.js';
import type { DriverVersionRead } from './driver.js';
import type { HiddenCheck } from './environment.js';
import { libcudaRecord, type LibcudaAnswer } from './libcuda.js';
import { smiComplaint, smiRecord, type SmiOutcome } from './nvidia-smi.js';
import { sameBusAddress, type PciFunction, type PciScan } from './sysfs.js';
import type { TegraFacts } from './tegra.js';
import type { Detection, GpuInfo } from './types.js';
import { blocked, describeHardware, hiddenDetection, type Base, type Verdict } from './verdict.js';
import type { WslFacts } from './wsl.js';

export interface LinuxFacts {
  platform: 'linux';
  pci: PciScan;
  procDriver: DriverVersionRead;
  moduleDriver: DriverVersionRead;
  smi: SmiOutcome;
  nodes: DeviceNodes;
  hidden: HiddenCheck;
  tegra: TegraFacts;
  wsl: WslFacts;
  /** Asked only where nvidia-smi gave no GPU list but a driver may still be there to answer. */
  libcuda?: LibcudaAnswer;
}

export interface WindowsFacts {
  platform: 'win32';
  smi: SmiOutcome;
  hidden: HiddenCheck;
}

/** Platforms without CUDA: nothing is read there. */
export interface OtherFacts {
  platform: Exclude<NodeJS.Platform, 'linux' | 'win32'>;
}

export type Facts = LinuxFacts | WindowsFacts | OtherFacts;

export function decide(facts: Facts): Detection {
  switch (facts.platform) {
    case 'linux': {
      let detection: Detection;
      if (facts.tegra.isTegra) detection = decideJetson(facts);
      else if (facts.wsl.isWsl) detection = decideWsl(facts);
      else detection = decideLinux(facts);
      return { ...detection, ...chooseCudaVersion(facts.smi, facts.libcuda, detection.driverVersion) };
    }
    case 'win32': {
      const detection = decideWindows(facts);
      return { ...detection, ...chooseCudaVersion(facts.smi, undefined, detection.driverVersion) };
    }
    default: {
      const reason =
        facts.platform === 'darwin'
          ? 'no CUDA on macOS (NVIDIA stopped at CUDA 10.2 there and PyTorch has no CUDA builds for it)'
          : `no CUDA support on ${facts.platform}`;
      return { cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason };
    }
  }
}

function decideLinux(facts: LinuxFacts): Detection {
  const { pci, procDriver, moduleDriver, smi, nodes, hidden } = facts;
  const sources = [pci.record, procDriver.record, moduleDriver.record, smiRecord(smi), nodes.record, hidden.record];
  if (facts.libcuda) sources.push(libcudaRecord(facts.libcuda));
  const kernelDriver = procDriver.version ?? moduleDriver.version;
  const pciGpus = pci.gpus.map((fn): GpuInfo => ({
    name: `NVIDIA GPU ${fn.vendorDevice}`,
    busId: fn.address,
    pciDeviceId: fn.vendorDevice,
    driverVersion: kernelDriver,
  }));
  const listed = smi.kind === 'listed' ? withPciIds(smi.gpus, pci.gpus) : undefined;
  const gpus = listed ?? pciGpus;
  const driverVersion = listed?.find((gpu) => gpu.driverVersion)?.driverVersion ?? kernelDriver;
  const base: Base = { gpus, driverVersion, hardwarePresent: gpus.length > 0, sources };
  const hardware = describeHardware(gpus);
  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);
  return { ...base, ...linuxVerdict(facts, kernelDriver, driverVersion, hardware) };
}

function linuxVerdict(facts: LinuxFacts, kernelDriver: string | undefined, driverVersion: string | undefined, hardware: string): Verdict {
  const { pci, procDriver, moduleDriver, smi, nodes } = facts;
  if (smi.kind === 'listed') {
    let diagnosis: string | undefined;
    if (smi.exitCode !== 0) diagnosis = `nvidia-smi listed ${smi.gpus.length} GPU(s) but exited ${smi.exitCode}: ${smi.message}`;
    else if (kernelDriver && driverVersion && kernelDriver !== driverVersion) {
      diagnosis = `driver versions disagree: the kernel module says ${kernelDriver}, nvidia-smi says ${driverVersion}`;
    }
    return { cudaUsable: true, diagnosis, reason: `found ${hardware} (nvidia-smi)${driverVersion ? `, driver ${driverVersion}` : ''}` };
  }
  // A hang is a driver symptom even when sysfs shows nothing, so it is always diagnosed.
  if (smi.kind === 'timed-out') return blocked(smiComplaint(smi));

  let noDriver: string | undefined;
  if (pci.gpus.length > 0 && kernelDriver === undefined) {
    const nouveau = moduleDriver.nouveau ? '; nouveau is loaded instead' : '';
    noDriver = `NVIDIA GPU on the PCI bus (${pci.gpus[0].vendorDevice}) but no driver loaded (/proc/driver/nvidia/version missing${nouveau})`;
  }

  if (smi.kind === 'not-installed') {
    if (kernelDriver && nodes.usable && (pci.gpus.length > 0 || !pci.readable)) {
      // Containers often get the driver and /dev nodes without the nvidia-smi binary. A loaded
      // module plus device nodes is what CUDA itself needs, so assume usable and let the
      // torch verification step have the last word rather than silently falling back to CPU.
      const driverSource = procDriver.version ? 'proc-driver-version' : 'sys-module-version';
      return {
        cudaUsable: true,
        diagnosis: 'nvidia-smi is not installed: CUDA assumed usable from the loaded driver and /dev/nvidia* nodes',
        reason: `found ${hardware || 'GPUs behind unreadable sysfs'} (sysfs-pci), driver ${kernelDriver} (${driverSource}), ${nodes.gpuNodes.join(', ')} present; nvidia-smi is not installed, so CUDA is assumed usable`,
      };
    }
    if (kernelDriver && nodes.usable) return blocked(`driver ${kernelDriver} loaded but no NVIDIA GPU on the PCI bus, and no nvidia-smi to ask`);
    if (kernelDriver)
      return blocked(`driver ${kernelDriver} loaded but no /dev/nvidia* device nodes and no nvidia-smi (container started without GPU access?)`);
    if (noDriver) return blocked(noDriver);
    return { cudaUsable: false, reason: `no NVIDIA GPU: ${pci.summary}, no NVIDIA driver loaded, nvidia-smi not installed` };
  }

  const complaint = smiComplaint(smi);
  if (pci.gpus.length === 0 && kernelDriver === undefined && pci.readable) {
    // nvidia-smi is installed but there is neither hardware nor a driver: a CPU runner with leftover utilities.
    return { cudaUsable: false, reason: `no NVIDIA GPU: ${pci.summary}, no NVIDIA driver loaded (${complaint})` };
  }
  if (noDriver) return blocked(`${noDriver}; ${complaint}`);
  if (smi.kind === 'no-gpus' && pci.gpus.length > 0) return blocked(`nvidia-smi listed no GPUs although the PCI bus shows ${hardware}`);
  if (kernelDriver && smi.kind !== 'no-gpus') return blocked(`driver ${kernelDriver} loaded but ${complaint}`);
  return blocked(complaint);
}

function decideWindows(facts: WindowsFacts): Detection {
  const { smi, hidden } = facts;
  const gpus = smi.kind === 'listed' ? smi.gpus : [];
  const driverVersion = gpus.find((gpu) => gpu.driverVersion)?.driverVersion;
  const base: Base = { gpus, driverVersion, hardwarePresent: gpus.length > 0, sources: [smiRecord(smi), hidden.record] };
  const hardware = describeHardware(gpus);
  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);
  switch (smi.kind) {
    case 'listed':
      return { ...base, cudaUsable: true, reason: `found ${hardware} (nvidia-smi)${driverVersion ? `, driver ${driverVersion}` : ''}` };
    case 'not-installed':
      // Windows has no sysfs: without nvidia-smi.exe there is no NVIDIA driver to speak of.
      return { ...base, cudaUsable: false, reason: `no NVIDIA driver: nvidia-smi.exe not found (tried ${smi.tried.join(', ')})` };
    default:
      return { ...base, ...blocked(smiComplaint(smi)) };
  }
}

function withPciIds(gpus: GpuInfo[], pciGpus: PciFunction[]): GpuInfo[] {
  return gpus.map((gpu) => {
    const match = gpu.busId ? pciGpus.find((fn) => sameBusAddress(fn.address, gpu.busId ?? '')) : undefined;
    return match ? { ...gpu, pciDeviceId: match.vendorDevice } : gpu;
  });
}
