import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Detection } from '../src/detect/index.js';
import { ActionError } from '../src/errors.js';
import { preflightCuda } from '../src/preflight.js';
import { loadProject } from '../src/project.js';

const seed = fs.readFileSync(new URL('../examples/seed/pyproject.toml', import.meta.url), 'utf8');

function lockedProject(cudaTorch: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'preflight-'));
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), seed);
  fs.writeFileSync(
    path.join(dir, 'poetry.lock'),
    `[[package]]\nname = "torch"\nversion = "2.13.0+cpu"\n[package.source]\ntype = "legacy"\nurl = "https://download.pytorch.org/whl/cpu"\nreference = "pytorch-cpu"\n\n` +
      `[[package]]\nname = "torch"\nversion = "${cudaTorch}"\n[package.source]\ntype = "legacy"\nurl = "https://download.pytorch.org/whl/cu"\nreference = "pytorch-cuda"\n`,
  );
  return loadProject(dir);
}

function gpuRunner(driverVersion: string, name: string, computeCapability: string): Detection {
  return {
    cudaUsable: true,
    hardwarePresent: true,
    driverVersion,
    gpus: [{ name, computeCapability, driverVersion }],
    sources: [],
    reason: `found 1 x ${name} (nvidia-smi)`,
  };
}

function errorOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

describe('preflightCuda', () => {
  it('passes a driver that fully supports the locked CUDA and a covered GPU', () => {
    expect(errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), gpuRunner('580.65.06', 'NVIDIA H100 80GB HBM3', '9.0'), true, 'linux'))).toBeUndefined();
  });

  it('fails a driver too old for the locked wheel, with both fixes', () => {
    const message = errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), gpuRunner('550.54.15', 'NVIDIA A100-SXM4-40GB', '8.0'), true, 'linux'));
    expect(message).toMatch(/^The NVIDIA driver 550\.54\.15 is too old for torch 2\.14\.1\+cu130: .*\(the driver supports CUDA 12\.4\)/);
    expect(message).toContain('update the runner');
    expect(message).toContain('point the pytorch-cuda source at a cuXXX index this driver supports, e.g. .../whl/cu124 or older');
  });

  it('lets minor-version compatibility through (cu128 on a 550 driver)', () => {
    expect(errorOf(() => preflightCuda(lockedProject('2.8.0+cu128'), gpuRunner('550.54.15', 'NVIDIA A100-SXM4-40GB', '8.0'), true, 'linux'))).toBeUndefined();
  });

  it('fails a Pascal GPU on a CUDA 13 build before the download', () => {
    const message = errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), gpuRunner('580.65.06', 'NVIDIA GeForce GTX 1080', '6.1'), true, 'linux'));
    expect(message).toMatch(/^NVIDIA GeForce GTX 1080 \(sm_61\): GPU sm_61 .* is not among the architectures torch 2\.14\.1 cu130 is built for/);
  });

  it('fails on a runner where CUDA cannot work when CUDA is expected, and not when it is not', () => {
    const cpuRunner: Detection = { cudaUsable: false, hardwarePresent: false, gpus: [], sources: [], reason: 'no NVIDIA GPU' };
    expect(errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), cpuRunner, true, 'linux'))).toMatch(
      /^mode is cuda and expect-cuda is true, but CUDA cannot work on this runner: no NVIDIA GPU/,
    );
    expect(errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), cpuRunner, false, 'linux'))).toBeUndefined();
  });

  it('names the CUDA version the driver itself reported in the fix', () => {
    const runner = { ...gpuRunner('550.40.07', 'NVIDIA GeForce RTX 4070', '8.9'), cudaDriverVersion: '12.4', cudaDriverVersionFrom: 'nvidia-smi' as const };
    expect(errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), runner, true, 'linux'))).toMatch(
      /\(the driver supports CUDA 12\.4\).*e\.g\. \.\.\.\/whl\/cu124 or older/,
    );
  });

  it("trusts a driver that reports a CUDA version at least the wheel's, whatever the table says", () => {
    // A driver with a forward-compatibility package reports more than its branch's row.
    const runner = { ...gpuRunner('580.142', 'NVIDIA GB10', '12.1'), cudaDriverVersion: '13.2', cudaDriverVersionFrom: 'nvidia-smi' as const };
    expect(errorOf(() => preflightCuda(lockedProject('2.14.1+cu130'), runner, true, 'linux'))).toBeUndefined();
  });

  it("reads a WSL2 driver version in NVIDIA's Windows column", () => {
    // 527.41 is below 12.x's Windows floor (528.33) but above its Linux floor (525.60.13).
    const wsl = { ...gpuRunner('527.41', 'NVIDIA GeForce RTX 3060', '8.6'), system: 'wsl2' as const };
    expect(errorOf(() => preflightCuda(lockedProject('2.8.0+cu128'), wsl, true, 'linux'))).toMatch(
      /^The NVIDIA driver 527\.41 is too old .*CUDA 12\.8 needs driver 528\.33 or newer/,
    );
    expect(errorOf(() => preflightCuda(lockedProject('2.8.0+cu128'), { ...wsl, system: undefined }, true, 'linux'))).toBeUndefined();
  });
});

describe('cuda mode on macOS', () => {
  function cudaLockedProject() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'macos-cuda-'));
    fs.writeFileSync(path.join(dir, 'pyproject.toml'), seed);
    fs.writeFileSync(
      path.join(dir, 'poetry.lock'),
      '[[package]]\nname = "torch"\nversion = "2.14.1+cu130"\n[package.source]\ntype = "legacy"\nurl = "https://download.pytorch.org/whl/cu130"\nreference = "pytorch-cuda"\n',
    );
    return loadProject(dir);
  }
  const noGpu: Detection = { cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason: 'no CUDA on macOS' };

  it.each([true, false])('fails before any download, whatever expect-cuda says (%s)', (expectCuda) => {
    let error: unknown;
    try {
      preflightCuda(cudaLockedProject(), noGpu, expectCuda, 'darwin');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ActionError);
    expect((error as ActionError).title).toBe('No CUDA on macOS');
    expect((error as ActionError).message).toMatch(/PyTorch publishes no CUDA builds for macOS: use mode: cpu/);
  });

  it('lets the same lock through on a Windows runner that only checks the build installs', () => {
    expect(() => {
      preflightCuda(cudaLockedProject(), { ...noGpu, reason: 'no NVIDIA driver' }, false, 'win32');
    }).not.toThrow();
  });
});
