/**
 * What an NVIDIA driver, a CUDA runtime and a GPU architecture need from each other.
 * Pure functions over two kinds of tables: NVIDIA's driver requirements (CUDA release
 * notes) and the GPU architectures PyTorch's wheels are compiled for (its build scripts).
 */

import { compareParts, compareVersions, parseVersion } from './version.js';

/** One CUDA release's toolkit minimum driver ("full support"), GA release of each minor. */
interface CudaReleaseDriver {
  cuda: string;
  linux: string;
  windows: string;
}

// NVIDIA's "CUDA Toolkit and Corresponding Driver Versions", GA rows, newest first. Later
// updates of a minor (12.8 Update 1 ...) ask for slightly newer drivers; the GA row is the
// lowest driver that fully supports that minor. The 13.0 Windows value is the R580
// Windows driver the 13.0 release shipped beside and is less certain than the rest.
const CUDA_RELEASE_DRIVERS: readonly CudaReleaseDriver[] = [
  { cuda: '13.0', linux: '580.65.06', windows: '580.88' },
  { cuda: '12.9', linux: '575.51.03', windows: '576.02' },
  { cuda: '12.8', linux: '570.26', windows: '570.65' },
  { cuda: '12.6', linux: '560.28.03', windows: '560.76' },
  { cuda: '12.5', linux: '555.42.02', windows: '555.85' },
  { cuda: '12.4', linux: '550.54.14', windows: '551.61' },
  { cuda: '12.3', linux: '545.23.06', windows: '545.84' },
  { cuda: '12.2', linux: '535.54.03', windows: '536.25' },
  { cuda: '12.1', linux: '530.30.02', windows: '531.14' },
  { cuda: '12.0', linux: '525.60.13', windows: '527.41' },
  { cuda: '11.8', linux: '520.61.05', windows: '520.06' },
  { cuda: '11.7', linux: '515.43.04', windows: '516.01' },
  { cuda: '11.6', linux: '510.39.01', windows: '511.23' },
  { cuda: '11.5', linux: '495.29.05', windows: '496.04' },
  { cuda: '11.4', linux: '470.42.01', windows: '471.11' },
  { cuda: '11.3', linux: '465.19.01', windows: '465.89' },
  { cuda: '11.2', linux: '460.27.03', windows: '460.82' },
  { cuda: '11.1', linux: '455.23', windows: '456.38' },
  { cuda: '11.0', linux: '450.51.05', windows: '451.48' },
];

// Minor-version compatibility: any runtime of a major runs (without PTX JIT of newer
// PTX and a few driver-side features) on a driver at or above the major's floor.
const MINOR_VERSION_COMPATIBILITY_FLOORS: readonly { major: number; linux: string; windows: string }[] = [
  { major: 13, linux: '580', windows: '580' },
  { major: 12, linux: '525.60.13', windows: '528.33' },
  { major: 11, linux: '450.80.02', windows: '452.39' },
];

function driverColumn(platform: NodeJS.Platform): 'linux' | 'windows' {
  // NVIDIA publishes two columns; every non-Windows platform that has CUDA at all is Linux-like.
  return platform === 'win32' ? 'windows' : 'linux';
}

function cudaMajorMinor(cudaVersion: string): [number, number] {
  const parts = parseVersion(cudaVersion);
  if (!parts) throw new RangeError(`not a CUDA version: '${cudaVersion}'`);
  return [parts[0], parts[1] ?? 0];
}

/**
 * The driver that fully supports a CUDA release (its toolkit minimum). For a release newer
 * than the table (13.2, 14.0) this is the newest known minimum of an earlier release, a lower
 * bound: NVIDIA's minimums only ever grow. Throws RangeError below CUDA 11.0.
 */
export function minimumDriverFor(cudaVersion: string, platform: NodeJS.Platform): string {
  const [major, minor] = cudaMajorMinor(cudaVersion);
  const column = driverColumn(platform);
  const atOrBelow = CUDA_RELEASE_DRIVERS.find((row) => {
    const [rowMajor, rowMinor] = cudaMajorMinor(row.cuda);
    return rowMajor < major || (rowMajor === major && rowMinor <= minor);
  });
  if (!atOrBelow) throw new RangeError(`CUDA ${cudaVersion} is older than the driver table (11.0 and newer)`);
  return atOrBelow[column];
}

/** The lowest driver a CUDA major runs on at all (minor-version compatibility); undefined for majors NVIDIA has not published. */
export function compatibilityFloorFor(cudaVersion: string, platform: NodeJS.Platform): string | undefined {
  const [major] = cudaMajorMinor(cudaVersion);
  return MINOR_VERSION_COMPATIBILITY_FLOORS.find((row) => row.major === major)?.[driverColumn(platform)];
}

/**
 * The newest CUDA release this driver fully supports, by the per-release toolkit minimums:
 * what nvidia-smi prints as "CUDA Version" and what torch's "driver too old" warning counts
 * in. The minor-version floor is deliberately not used here: it says a newer 12.x runtime
 * *starts* on a 525 driver, not that everything in it works (no PTX JIT of newer PTX).
 * cudaDriverSupport() tells the two apart for one runtime. Undefined below CUDA 11.0's minimum
 * or for a driver version that is not a version.
 */
export function newestCudaForDriver(driverVersion: string, platform: NodeJS.Platform): string | undefined {
  const driver = parseVersion(driverVersion);
  if (!driver) return undefined;
  const column = driverColumn(platform);
  return CUDA_RELEASE_DRIVERS.find((row) => compareParts(driver, parseVersion(row[column]) ?? []) >= 0)?.cuda;
}

export interface CudaDriverSupport {
  /** full: toolkit minimum met; compatible: only the major's minor-version floor met; too-old: neither. */
  level: 'full' | 'compatible' | 'too-old';
  fullSupportFrom: string;
  compatibilityFloor?: string;
  message: string;
}

/** Whether a driver runs a CUDA runtime (e.g. the one inside a cu128 torch wheel), and how well. */
export function cudaDriverSupport(driverVersion: string, cudaVersion: string, platform: NodeJS.Platform): CudaDriverSupport {
  const fullSupportFrom = minimumDriverFor(cudaVersion, platform);
  const compatibilityFloor = compatibilityFloorFor(cudaVersion, platform);
  const [major, minor] = cudaMajorMinor(cudaVersion);
  const cuda = `${major}.${minor}`;
  if (compareVersions(driverVersion, fullSupportFrom) >= 0) {
    return { level: 'full', fullSupportFrom, compatibilityFloor, message: `driver ${driverVersion} fully supports CUDA ${cuda} (needs ${fullSupportFrom})` };
  }
  if (compatibilityFloor !== undefined && compareVersions(driverVersion, compatibilityFloor) >= 0) {
    return {
      level: 'compatible',
      fullSupportFrom,
      compatibilityFloor,
      message: `driver ${driverVersion} runs CUDA ${cuda} through minor-version compatibility (${major}.x needs ${compatibilityFloor}; full support from ${fullSupportFrom})`,
    };
  }
  const needs = compatibilityFloor ?? fullSupportFrom;
  return { level: 'too-old', fullSupportFrom, compatibilityFloor, message: `driver ${driverVersion} is too old for CUDA ${cuda}: it needs at least ${needs}` };
}

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
