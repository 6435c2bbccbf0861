/**
 * What an NVIDIA driver and a CUDA runtime need from each other: NVIDIA's driver tables.
 * The driver itself knows the newest CUDA it supports (nvidia-smi's header, libcuda's
 * cuDriverGetVersion); the tables here answer only where the driver cannot be asked, and
 * for the toolkit minimums a CUDA build of torch needs.
 */
import { compareParts, compareVersions, parseVersion } from './version.js';

/** One CUDA release's toolkit minimum driver ("full support"), GA release of each minor. */
interface CudaReleaseDriver {
  cuda: string;
  linux: string;
  windows: string;
}

// NVIDIA's "CUDA Toolkit and Corresponding Driver Versions" (CUDA release notes, Table 3),
// GA rows, newest first. Later updates of a minor ask for slightly newer drivers; the GA row
// is the lowest driver that fully supports that minor. From 13.1 on NVIDIA no longer ships
// a Windows driver with the toolkit, so the Windows column there is the branch's first
// number (R590 drivers are 590.xx-592.xx); docs/gpu-detection.md lists every row's source.
const CUDA_RELEASE_DRIVERS: readonly CudaReleaseDriver[] = [
  { cuda: '13.3', linux: '610.43.02', windows: '610' },
  { cuda: '13.2', linux: '595.45.04', windows: '595' },
  { cuda: '13.1', linux: '590.44.01', windows: '590' },
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

// What nvidia-smi prints as "CUDA Version" goes by driver branch, not by the toolkit
// minimum: every R525 driver says 12.0, including 525.60.11 below 12.0's GA minimum
// 525.60.13, every R550 says 12.4 (550.40.07 too), R565 says 12.7 though no 12.7 toolkit
// exists. Windows drivers of a branch are numbered from the same first number up.
const DRIVER_BRANCH_CUDA: readonly { branch: number; cuda: string }[] = [
  { branch: 610, cuda: '13.3' },
  { branch: 595, cuda: '13.2' },
  { branch: 590, cuda: '13.1' },
  { branch: 580, cuda: '13.0' },
  { branch: 575, cuda: '12.9' },
  { branch: 570, cuda: '12.8' },
  { branch: 565, cuda: '12.7' },
  { branch: 560, cuda: '12.6' },
  { branch: 555, cuda: '12.5' },
  { branch: 550, cuda: '12.4' },
  { branch: 545, cuda: '12.3' },
  { branch: 535, cuda: '12.2' },
  { branch: 530, cuda: '12.1' },
  { branch: 525, cuda: '12.0' },
  { branch: 520, cuda: '11.8' },
  { branch: 515, cuda: '11.7' },
  { branch: 510, cuda: '11.6' },
  { branch: 495, cuda: '11.5' },
  { branch: 470, cuda: '11.4' },
  { branch: 465, cuda: '11.3' },
  { branch: 460, cuda: '11.2' },
  { branch: 455, cuda: '11.1' },
  { branch: 450, cuda: '11.0' },
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

export function cudaMajorMinor(cudaVersion: string): [number, number] {
  const parts = parseVersion(cudaVersion);
  if (!parts) throw new RangeError(`not a CUDA version: '${cudaVersion}'`);
  return [parts[0], parts[1] ?? 0];
}

/**
 * The driver that fully supports a CUDA release (its toolkit minimum). For a release newer
 * than the table (13.4, 14.0) this is the newest known minimum of an earlier release, a lower
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
 * The CUDA version this driver reports ("CUDA Version" in nvidia-smi's header, what torch's
 * "driver too old" warning counts in), from its branch. Only for when the driver cannot be
 * asked: a driver newer than the table gets the newest row, a lower bound. Undefined before
 * R450 (CUDA 11.0) or for a driver version that is not a version.
 */
export function newestCudaForDriver(driverVersion: string): string | undefined {
  const branch = parseVersion(driverVersion)?.[0];
  if (branch === undefined) return undefined;
  return DRIVER_BRANCH_CUDA.find((row) => branch >= row.branch)?.cuda;
}

/** true when the driver version is past the table's newest branch, so the table's answer is only a lower bound. */
export function newerThanDriverTable(driverVersion: string): boolean {
  const branch = parseVersion(driverVersion)?.[0];
  return branch !== undefined && branch > DRIVER_BRANCH_CUDA[0].branch;
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

/** Whether CUDA version `a` is at least `b` ('13.1' vs '12.8'). */
export function cudaAtLeast(a: string, b: string): boolean {
  return compareParts(cudaMajorMinor(a), cudaMajorMinor(b)) >= 0;
}
