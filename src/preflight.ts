import * as core from '@actions/core';
import { checkCapability, cudaDriverSupport, cudaFromLocalLabel } from './cuda.js';
import { cudaAtLeast, newestCudaForDriver } from './cuda-driver.js';
import type { Detection } from './detect/index.js';
import { ActionError } from './errors.js';
import type { TorchBuild } from './lock/layout.js';
import { lockModel, lockedEntries } from './lock/lockfile.js';
import type { Project } from './project.js';

/** Without a layout plan: the first CUDA-labelled torch the lock pins. */
function cudaTorchInLock(project: Project): TorchBuild | undefined {
  const pkg = lockedEntries(lockModel(project), 'torch').find((entry) => cudaFromLocalLabel(entry.label ?? '') !== undefined);
  return (
    pkg && {
      version: pkg.version,
      label: pkg.label,
      kind: 'cuda',
      cuda: cudaFromLocalLabel(pkg.label ?? ''),
      source: pkg.source?.reference ?? 'PyPI',
      url: pkg.source?.url,
      groups: pkg.groups,
    }
  );
}

/** Checks, before anything is downloaded, that the CUDA torch cuda mode installs (the layout's plan) can work on this runner. */
export function preflightCuda(project: Project, detection: Detection, expectCuda: boolean, platform: NodeJS.Platform, planned?: TorchBuild): void {
  if (platform === 'darwin') {
    throw new ActionError('mode is cuda, but PyTorch publishes no CUDA builds for macOS: use mode: cpu (or auto) on macOS runners.', 'No CUDA on macOS');
  }
  if (expectCuda && !detection.cudaUsable) {
    throw new ActionError(
      `mode is cuda and expect-cuda is true, but CUDA cannot work on this runner: ${detection.diagnosis ?? detection.reason}. Run the job on a runner with an NVIDIA GPU and a loaded driver, or set expect-cuda: false to only check that the CUDA build installs.`,
      'No usable GPU',
    );
  }

  const torch = planned ?? cudaTorchInLock(project);
  if (!torch) {
    throw new ActionError(
      `${project.lockPath} pins no CUDA build of torch: cuda mode would install none. Bind torch to a source on a cuXXX index (e.g. https://download.pytorch.org/whl/cu130) behind an extra or an optional group, and run \`poetry lock\`.`,
      'No CUDA torch in the lock',
      project.lockPath,
    );
  }
  const wheelCuda = torch.label ? cudaFromLocalLabel(torch.label) : undefined;
  const driver = detection.driverVersion;
  if (!driver) return;
  // What the driver itself said (nvidia-smi's header, libcuda), the driver table only where it could not be asked.
  const supported = detection.cudaDriverVersion ?? newestCudaForDriver(driver);
  // Under WSL2 the driver version is the Windows driver's, numbered like NVIDIA's Windows column.
  const driverPlatform = detection.system === 'wsl2' ? 'win32' : platform;
  const driverSaysEnough =
    supported !== undefined && detection.cudaDriverVersionFrom !== 'driver-table' && wheelCuda !== undefined && cudaAtLeast(supported, wheelCuda);

  // Below CUDA 11 there is no driver table; torch's own warning (verify stage) covers it.
  if (wheelCuda && Number(wheelCuda.split('.')[0]) >= 11 && !driverSaysEnough) {
    const support = cudaDriverSupport(driver, wheelCuda, driverPlatform);
    if (support.level === 'too-old') {
      throw new ActionError(
        driverTooOldMessage(
          driver,
          torch.version,
          `CUDA ${wheelCuda} needs driver ${support.compatibilityFloor ?? support.fullSupportFrom} or newer`,
          supported,
          support.fullSupportFrom,
          torch.source,
        ),
        'Driver too old for the locked CUDA torch',
        project.lockPath,
      );
    }
    if (support.level === 'compatible') core.warning(`${support.message}: torch ${torch.version} should run; update the driver if kernels fail to load.`);
  }
  if (torch.label) {
    for (const gpu of detection.gpus) {
      if (!gpu.computeCapability) continue;
      const check = checkCapability(gpu.computeCapability, torch.version, torch.label);
      if (check.verdict === 'unsupported') {
        throw new ActionError(
          `${gpu.name} (sm_${gpu.computeCapability.replace('.', '')}): ${check.message}`,
          'GPU not supported by the locked torch',
          project.lockPath,
        );
      }
      if (check.verdict === 'likely-unsupported') core.warning(`${gpu.name} (sm_${gpu.computeCapability.replace('.', '')}): ${check.message}`);
    }
  }
}

/** One wording for "driver too old", whether the lock (before the sync) or torch (after it) found out. */
export function driverTooOldMessage(
  driver: string,
  torchVersion: string,
  why: string,
  supportedCuda: string | undefined,
  fullSupportFrom: string,
  sourceName = 'pytorch-cuda',
): string {
  const olderIndex = supportedCuda ? `, e.g. .../whl/cu${supportedCuda.replace('.', '')} or older` : '';
  return `The NVIDIA driver ${driver} is too old for torch ${torchVersion}: ${why} (the driver supports CUDA ${supportedCuda ?? 'none'}). Fix: update the runner's driver to ${fullSupportFrom} or newer, or point the ${sourceName} source at a cuXXX index this driver supports${olderIndex}, and run \`poetry lock\`.`;
}
