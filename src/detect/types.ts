/** The shapes detection hands to the rest of the action. */
import type { RunCommand } from '../exec.js';

export interface DetectDeps {
  platform: NodeJS.Platform;
  /** Filesystem root holding sys/, proc/ and dev/: '/' in production, a recorded tree in tests. */
  root: string;
  env: NodeJS.ProcessEnv;
  run: RunCommand;
  nvidiaSmiTimeoutMs: number;
  /** Programs tried in order until one starts; defaults per platform (see nvidiaSmiCandidatesFor). */
  nvidiaSmiCandidates?: string[];
  /** The interpreter that runs cuda_driver.py where nvidia-smi is missing; python3 (python on Windows) by default. */
  python?: string;
}

export interface GpuInfo {
  index?: number;
  name: string;
  busId?: string;
  /** PCI vendor:device, e.g. '10de:2330'. */
  pciDeviceId?: string;
  /** e.g. '8.6'. */
  computeCapability?: string;
  memoryMiB?: number;
  driverVersion?: string;
}

export interface SourceRecord {
  source: 'sysfs-pci' | 'proc-driver-version' | 'sys-module-version' | 'nvidia-smi' | 'dev-nodes' | 'environment' | 'tegra' | 'wsl' | 'libcuda';
  /** true when this source speaks for CUDA being usable (found a GPU, a driver, nodes; env hides nothing). */
  ok: boolean;
  /** What it said, one line, for the summary. */
  detail: string;
}

export interface Detection {
  /** An NVIDIA GPU with a loaded, answering driver, not hidden by the environment: what `mode: auto` uses. */
  cudaUsable: boolean;
  /** nvidia-smi's list when it answered, else the PCI functions. */
  gpus: GpuInfo[];
  driverVersion?: string;
  /** NVIDIA display or 3D controller functions on the PCI bus, or GPUs listed by nvidia-smi. */
  hardwarePresent: boolean;
  /** e.g. 'NVIDIA_VISIBLE_DEVICES=void'. */
  hiddenByEnv?: string;
  /** Every source consulted, in order. */
  sources: SourceRecord[];
  /** One line when something disagrees or blocks CUDA. */
  diagnosis?: string;
  /** One line for the log: why cudaUsable is what it is, naming the source. */
  reason: string;
  /** The newest CUDA version the driver supports, e.g. '13.1': what the cuda-driver-version output says. */
  cudaDriverVersion?: string;
  /** Who answered cudaDriverVersion: the driver itself (nvidia-smi's header, libcuda) or, failing both, the driver table. */
  cudaDriverVersionFrom?: 'nvidia-smi' | 'libcuda' | 'driver-table';
  /** One line: the version and where it came from, or why it is unknown. */
  cudaDriverVersionDetail?: string;
  /** Set where the GPU is not a PCI device of a Linux kernel driver: a Jetson's integrated GPU, or WSL2's passed-through one. */
  system?: 'jetson' | 'wsl2';
  /** Jetson only: the L4T release, e.g. '35.3.1' (never a driver version). */
  l4tRelease?: string;
}
