/**
 * What a GPU architecture needs from a PyTorch CUDA build: the architectures PyTorch's
 * wheels are compiled for (its build scripts). The driver tables live in cuda-driver.ts
 * and are re-exported here for the callers that need both.
 */

import { cudaMajorMinor } from './cuda-driver.js';
import { compareParts, parseVersion } from './version.js';

export { compatibilityFloorFor, cudaDriverSupport, minimumDriverFor, newestCudaForDriver, type CudaDriverSupport } from './cuda-driver.js';

/** 'cu128' -> '12.8', 'cu130' -> '13.0', '2.7.0+cu118' -> '11.8'; undefined for 'cpu', 'rocm6.2' and the like. */
export function cudaFromLocalLabel(label: string): string | undefined {
  const match = /^(?:.*\+)?cu(\d+)(\d)$/i.exec(label.trim());
  return match ? `${Number(match[1])}.${match[2]}` : undefined;
}

export interface ExpectedArchs {
  minCapability: string;
  /** Highest SASS architecture; absent when the build carries PTX (newer GPUs can JIT it). */
  maxCapability?: string;
  /** true: the list was checked against PyTorch's build scripts / measured get_arch_list(); false: an estimate. */
  certain: boolean;
  /** What torch.cuda.get_arch_list() is expected to print for this build (Linux x86_64). */
  archList: string[];
}

const MAXWELL_TO_HOPPER = ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'];
const TURING_TO_BLACKWELL = ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'];
const VOLTA_TO_BLACKWELL = ['sm_70', ...TURING_TO_BLACKWELL];

/**
 * The GPU architectures a PyTorch CUDA wheel is built for. Sources: PyTorch's
 * .ci/manywheel/build_cuda.sh per release and get_arch_list() reported in its issues.
 * The 2.8 release note says sm_50-sm_70 were dropped from 2.8 on; the builds themselves
 * kept sm_70 in cu128/cu129 for 2.8-2.10 (issue 157517) and dropped it again in 2.11
 * (issue 172352), while 2.7's cu128 already started at sm_75.
 * Throws RangeError for a label that is not a CUDA build.
 */
export function expectedArchs(torchVersion: string, cudaLabel: string): ExpectedArchs {
  const cuda = cudaFromLocalLabel(cudaLabel);
  if (cuda === undefined) throw new RangeError(`'${cudaLabel}' is not a CUDA build label (cuXYZ)`);
  const [major, minor] = cudaMajorMinor(cuda);
  const torch = parseVersion(torchVersion);
  const torchAtLeast = (wanted: string): boolean => torch !== undefined && compareParts(torch, parseVersion(wanted) ?? []) >= 0;
  const { archList, certain } = archRule(major, minor, torch !== undefined, torchAtLeast);
  return describeArchList(archList, certain);
}

function archRule(major: number, minor: number, torchKnown: boolean, torchAtLeast: (version: string) => boolean): { archList: string[]; certain: boolean } {
  if (major >= 13) {
    // CUDA 13 cannot target anything below sm_75 at all; cu130's list is verified, later ones assumed alike.
    return { archList: [...TURING_TO_BLACKWELL, 'compute_120'], certain: major === 13 && minor === 0 };
  }
  if (major === 12 && minor >= 8) {
    const ptx = minor === 9 ? ['compute_120'] : [];
    if (!torchKnown || torchAtLeast('2.11')) return { archList: TURING_TO_BLACKWELL, certain: torchKnown && minor === 8 };
    if (torchAtLeast('2.8')) return { archList: [...VOLTA_TO_BLACKWELL, ...ptx], certain: true };
    return { archList: TURING_TO_BLACKWELL, certain: minor === 8 };
  }
  if (major === 12 && minor === 6) return { archList: MAXWELL_TO_HOPPER, certain: true };
  // cu121/cu124 and cu118: PyTorch built these for sm_50-sm_90 (some cu118 releases also sm_37).
  if (major === 12 || (major === 11 && minor === 8)) return { archList: MAXWELL_TO_HOPPER, certain: false };
  if (major === 11) return { archList: ['sm_37', 'sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86'], certain: false };
  return { archList: ['sm_37', 'sm_50', 'sm_60', 'sm_70', 'sm_75'], certain: false };
}

function describeArchList(archList: string[], certain: boolean): ExpectedArchs {
  const sass = archList.map(parseArchEntry).filter((entry): entry is ArchEntry => entry?.kind === 'sm');
  sass.sort((a, b) => compareParts([a.major, a.minor], [b.major, b.minor]));
  const hasPtx = archList.some((entry) => parseArchEntry(entry)?.kind === 'compute');
  const lowest = sass[0];
  const highest = sass[sass.length - 1];
  return {
    minCapability: `${lowest.major}.${lowest.minor}`,
    maxCapability: hasPtx ? undefined : `${highest.major}.${highest.minor}`,
    certain,
    archList: [...archList],
  };
}

interface ArchEntry {
  kind: 'sm' | 'compute';
  major: number;
  minor: number;
  /** '' plain, 'a' architecture-specific, 'f' family-specific (CUDA 12.9+). */
  suffix: '' | 'a' | 'f';
}

function parseArchEntry(entry: string): ArchEntry | undefined {
  const match = /^(sm|compute)_(\d+)(\d)([af]?)$/.exec(entry.trim());
  if (!match) return undefined;
  return { kind: match[1] as ArchEntry['kind'], major: Number(match[2]), minor: Number(match[3]), suffix: match[4] as ArchEntry['suffix'] };
}

function parseCapability(capability: string): [number, number] {
  const match = /^\s*(\d+)\.(\d)\s*$/.exec(capability);
  if (!match) throw new RangeError(`not a compute capability: '${capability}' (expected e.g. '8.6')`);
  return [Number(match[1]), Number(match[2])];
}

/**
 * Whether code in a build with this arch list runs on a GPU of this compute capability.
 * Rule (CUDA's binary compatibility): SASS `sm_XY` runs on the same major X with minor >= Y
 * (sm_80 runs on 8.6 and 8.9, never on 9.0); `sm_XYa` only on exactly X.Y; `sm_XYf` like
 * plain within its family. PTX `compute_XY` is JIT-compiled by the driver for any GPU >= X.Y
 * (`compute_XYa` only for X.Y). Unknown entries (gfx900 on ROCm) are ignored.
 */
export function capabilityInArchList(capability: string, archList: string[]): boolean {
  const [major, minor] = parseCapability(capability);
  return archList.some((text) => {
    const entry = parseArchEntry(text);
    if (!entry) return false;
    if (entry.suffix === 'a') return entry.major === major && entry.minor === minor;
    if (entry.kind === 'compute' && entry.suffix === '') return compareParts([major, minor], [entry.major, entry.minor]) >= 0;
    return entry.major === major && entry.minor <= minor;
  });
}

export interface CapabilityCheck {
  verdict: 'ok' | 'unsupported' | 'likely-unsupported';
  message: string;
}

/** Whether a torch CUDA build has kernels for this GPU; 'likely-unsupported' where the arch table is an estimate. */
export function checkCapability(capability: string, torchVersion: string, cudaLabel: string): CapabilityCheck {
  const [major, minor] = parseCapability(capability);
  const cuda = cudaFromLocalLabel(cudaLabel);
  // Callers pass either '2.8.0' or the wheel's '2.8.0+cu128'; name the label once.
  const build = `torch ${torchVersion.replace(/\+.*$/, '')} ${cudaLabel}`;
  if (cuda === undefined) return { verdict: 'ok', message: `${build} is not a CUDA build: no GPU architecture to check` };
  const expected = expectedArchs(torchVersion, cudaLabel);
  const gpu = `sm_${major}${minor} (compute capability ${major}.${minor})`;
  const covered = describeCoverage(expected);
  if (capabilityInArchList(capability, expected.archList)) {
    return { verdict: 'ok', message: `GPU ${gpu} is covered by ${build} (${covered})` };
  }
  const belowCuda13Floor = Number(cuda.split('.')[0]) >= 13 && compareParts([major, minor], [7, 5]) < 0;
  const certain = expected.certain || belowCuda13Floor;
  const hint = capabilityHint([major, minor], expected);
  return {
    verdict: certain ? 'unsupported' : 'likely-unsupported',
    message: `GPU ${gpu} is ${certain ? 'not' : 'probably not'} among the architectures ${build} is built for (${covered}${certain ? '' : ', estimated'})${hint ? `: ${hint}` : ''}`,
  };
}

function describeCoverage(expected: ExpectedArchs): string {
  const lowest = `sm_${expected.minCapability.replace('.', '')}`;
  if (expected.maxCapability === undefined) return `${lowest} and newer`;
  return `${lowest} to sm_${expected.maxCapability.replace('.', '')}`;
}

function capabilityHint(capability: [number, number], expected: ExpectedArchs): string | undefined {
  const minimum = parseCapability(expected.minCapability);
  if (compareParts(capability, minimum) < 0) {
    if (compareParts(capability, [5, 0]) >= 0 && compareParts(capability, [9, 0]) <= 0) {
      return "PyTorch's cu126 builds still cover sm_50 to sm_90";
    }
    return 'no current PyTorch CUDA build supports this GPU';
  }
  if (expected.maxCapability !== undefined && compareParts(capability, parseCapability(expected.maxCapability)) > 0) {
    return compareParts(capability, [10, 0]) >= 0 ? 'Blackwell GPUs need a cu128 or newer build' : 'a newer CUDA build is needed';
  }
  return undefined;
}
