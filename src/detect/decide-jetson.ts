/**
 * The decision on a Jetson: the GPU is part of the SoC, so "no NVIDIA GPU on the PCI bus"
 * means nothing there. Before JetPack 6 there is no nvidia-smi; libcuda answers instead.
 */
import type { LinuxFacts } from './decide.js';
import { libcudaRecord } from './libcuda.js';
import { smiComplaint, smiRecord } from './nvidia-smi.js';
import { isL4tRelease } from './tegra.js';
import type { Detection, GpuInfo, SourceRecord } from './types.js';
import { blocked, describeHardware, hiddenDetection, type Base, type Verdict } from './verdict.js';

// What a Jetson needs for CUDA, said once for every failure.
const JETSON_FIX = "CUDA on a Jetson comes from JetPack's L4T libraries; in a container, start it with --runtime nvidia";

export function decideJetson(facts: LinuxFacts): Detection {
  const { tegra, pci, procDriver, moduleDriver, smi, nodes, hidden, libcuda } = facts;
  const sources: SourceRecord[] = [pci.record, procDriver.record, moduleDriver.record, smiRecord(smi), nodes.record, hidden.record];
  if (tegra.record) sources.unshift(tegra.record);
  if (libcuda) sources.push(libcudaRecord(libcuda));
  const listed = smi.kind === 'listed' ? smi.gpus : undefined;
  const viaLibcuda = libcuda?.kind === 'answered' ? libcuda.devices : undefined;
  const gpus: GpuInfo[] = listed ?? viaLibcuda ?? [];
  // JetPack 5 writes the L4T release where a driver version would be; JetPack 6's nvidia-smi says 540.x or N/A.
  const candidates = [listed?.find((gpu) => gpu.driverVersion)?.driverVersion, procDriver.version, moduleDriver.version];
  const driverVersion = candidates.find((version) => version !== undefined && !isL4tRelease(version, tegra.l4tRelease));
  const base: Base = {
    gpus,
    driverVersion,
    hardwarePresent: true,
    sources,
    system: 'jetson',
    l4tRelease: tegra.l4tRelease,
  };
  const label = `Jetson/Tegra integrated GPU${tegra.l4tRelease ? ` (L4T ${tegra.l4tRelease})` : ''}`;
  const hardware = describeHardware(gpus) || label;
  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);
  return { ...base, ...jetsonVerdict(facts, label, hardware) };
}

function jetsonVerdict(facts: LinuxFacts, label: string, hardware: string): Verdict {
  const { smi, libcuda } = facts;
  if (smi.kind === 'listed') return { cudaUsable: true, reason: `found ${hardware} (nvidia-smi), ${label}` };
  if (libcuda?.kind === 'answered') {
    if (libcuda.initError) return blocked(`${label}: libcuda (CUDA ${libcuda.cudaVersion}) cannot use the GPU: ${libcuda.initError}. ${JETSON_FIX}`);
    if (libcuda.devices.length === 0) return blocked(`${label}: libcuda (CUDA ${libcuda.cudaVersion}) sees no CUDA device. ${JETSON_FIX}`);
    return { cudaUsable: true, reason: `found ${hardware} (libcuda), ${label}, CUDA ${libcuda.cudaVersion}` };
  }
  const smiSaid = smi.kind === 'not-installed' ? 'no nvidia-smi (none before JetPack 6)' : smiComplaint(smi);
  const libcudaSaid = libcuda?.kind === 'failed' ? `libcuda did not answer (${libcuda.message})` : 'libcuda not asked';
  return blocked(`${label}: ${smiSaid}, and ${libcudaSaid}. ${JETSON_FIX}`);
}
