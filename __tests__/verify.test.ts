import { buildVariant, bytecodeWritingEnv, findProblems, type ProbeReport } from '../src/verify.js';

const cpuBuild: ProbeReport = {
  python: '3.11.7',
  torch_installed: true,
  torch_version: '2.13.0+cpu',
  cuda_version: null,
  cuda_available: false,
  device_count: 0,
  devices: [],
  warnings: [],
};
const cudaBuild: ProbeReport = { ...cpuBuild, torch_version: '2.14.1+cu130', cuda_version: '13.0' };
const noTorch: ProbeReport = { python: '3.11.7', torch_installed: false, import_error: "ModuleNotFoundError: No module named 'torch'" };
const expectCpu = { mode: 'cpu' as const, expectCuda: false, syncCommand: 'poetry sync --extras=cpu', detectionReason: 'no NVIDIA GPU on the PCI bus' };
const expectCuda = {
  mode: 'cuda' as const,
  expectCuda: true,
  syncCommand: 'poetry sync --extras=cuda --with=cuda',
  detectionReason: 'found 1 x NVIDIA H100 (nvidia-smi)',
};

describe('findProblems', () => {
  it('accepts the CPU build in cpu mode and a CUDA build in cuda mode on a CPU runner with expect-cuda false', () => {
    expect(findProblems(cpuBuild, expectCpu)).toEqual([]);
    expect(findProblems(cudaBuild, { ...expectCuda, expectCuda: false })).toEqual([]);
  });

  it('names the trap when cuda mode got the CPU build or no torch', () => {
    for (const report of [cpuBuild, noTorch]) {
      const [problem] = findProblems(report, { ...expectCuda, expectCuda: false });
      expect(problem).toContain('`-E cuda` without `--with cuda` trap');
    }
  });

  it('says torch is missing in cpu mode and how to declare it', () => {
    expect(findProblems(noTorch, expectCpu)[0]).toMatch(/torch is not installed after `poetry sync --extras=cpu`.*extra=='cpu'/);
  });

  it('rejects a CUDA build in cpu mode', () => {
    expect(findProblems(cudaBuild, expectCpu)[0]).toMatch(/cpu mode installed a CUDA build \(2\.14\.1\+cu130, CUDA 13\.0\)/);
  });

  it('rejects a ROCm build in cuda mode', () => {
    const rocm = { ...cpuBuild, torch_version: '2.7.0+rocm6.3', hip_version: '6.3' };
    expect(buildVariant(rocm)).toBe('rocm');
    expect(findProblems(rocm, { ...expectCuda, expectCuda: false })[0]).toContain('a ROCm build (2.7.0+rocm6.3, HIP 6.3)');
  });

  it("explains an unavailable GPU with the detection and torch's own warning", () => {
    const report = { ...cudaBuild, warnings: ['CUDA initialization: Found no NVIDIA driver on your system.'] };
    const [problem] = findProblems(report, expectCuda);
    expect(problem).toContain('torch.cuda.is_available() is False but expect-cuda is true');
    expect(problem).toContain('found 1 x NVIDIA H100 (nvidia-smi)');
    expect(problem).toContain('torch warned: CUDA initialization: Found no NVIDIA driver');
  });

  it('flags a GPU when expect-cuda is false', () => {
    expect(findProblems({ ...cudaBuild, cuda_available: true, device_count: 1 }, { ...expectCuda, expectCuda: false })[0]).toContain(
      'is True but expect-cuda is false',
    );
  });

  it('fails when the matmul check on a GPU hangs or is wrong', () => {
    const report: ProbeReport = {
      ...cudaBuild,
      cuda_available: true,
      device_count: 2,
      devices: [
        { index: 0, name: 'NVIDIA A100', capability: '8.0', matmul: { value: { ok: true, max_abs_error: 0 } } },
        { index: 1, name: 'NVIDIA A100', capability: '8.0', matmul: { error: 'timed out after 60 s' } },
      ],
    };
    const problems = findProblems(report, expectCuda);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('GPU 1 (NVIDIA A100) failed: timed out after 60 s');
  });
});

describe('GPU truth after the sync', () => {
  const onGpu: ProbeReport = {
    ...cudaBuild,
    torch_version: '2.9.0+cu130',
    cuda_available: true,
    device_count: 1,
    arch_list: ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'],
  };

  it('fails a GPU whose capability the build has no kernels for, naming sm_XY, the list and the fix', () => {
    const report = {
      ...onGpu,
      devices: [
        {
          index: 0,
          name: 'Tesla P100-PCIE-16GB',
          capability: '6.0',
          matmul: { error: 'RuntimeError: CUDA error: no kernel image is available for execution on the device' },
        },
      ],
    };
    const problems = findProblems(report, expectCuda);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^GPU 0 \(Tesla P100-PCIE-16GB\) is sm_60, which torch 2\.9\.0\+cu130 has no kernels for \(built for sm_75 sm_80 sm_86 sm_90 sm_100 sm_120\)/,
    );
    expect(problems[0]).toContain('cu126 covers sm_50 to sm_90');
  });

  it('accepts a GPU covered by a same-major arch (binary compatible)', () => {
    const report = { ...onGpu, devices: [{ index: 0, name: 'NVIDIA A10', capability: '8.6', matmul: { value: { ok: true, max_abs_error: 0 } } }] };
    expect(findProblems(report, expectCuda)).toEqual([]);
  });

  it("turns torch's driver-too-old warning into the same message as the pre-check", () => {
    const report = {
      ...cudaBuild,
      warnings: ['CUDA initialization: The NVIDIA driver on your system is too old (found version 12020). Please update your GPU driver.'],
    };
    const [problem] = findProblems(report, { ...expectCuda, driverVersion: '535.104.05', platform: 'linux' });
    expect(problem).toMatch(
      /^The NVIDIA driver 535\.104\.05 is too old for torch 2\.14\.1\+cu130: CUDA 13\.0 needs driver 580[\d.]* or newer \(the driver supports CUDA 12\.2\)/,
    );
    expect(problem).toContain('e.g. .../whl/cu122 or older');
  });
});

describe('bytecodeWritingEnv', () => {
  it('lets the probe write .pyc files into the venv and keeps everything else', () => {
    expect(bytecodeWritingEnv({ PATH: '/bin', PYTHONDONTWRITEBYTECODE: '1', PYTHONPYCACHEPREFIX: '/tmp/pyc', PYTHONUNBUFFERED: '1' })).toEqual({
      PATH: '/bin',
      PYTHONUNBUFFERED: '1',
    });
  });
});

describe('findProblems against the layout plan (project names)', () => {
  const planned = { version: '2.14.1+cu130', kind: 'cuda' as const, source: 'torch', layout: 'single build' };

  it('accepts the CUDA build cpu mode installs when the lock pins only that one', () => {
    expect(findProblems(cudaBuild, { ...expectCpu, syncCommand: 'poetry sync', planned })).toEqual([]);
  });

  it('names the planned build and its source when another is installed or none', () => {
    expect(findProblems(cpuBuild, { ...expectCpu, syncCommand: 'poetry sync', planned })).toEqual([
      'cpu mode installed torch 2.13.0+cpu (cpu build), not torch 2.14.1+cu130 from torch (layout: single build). Run `poetry lock` so the lock matches pyproject.toml, and check that sync-args change no extra or group.',
    ]);
    expect(findProblems(noTorch, { ...expectCuda, expectCuda: false, syncCommand: 'poetry sync --with=gpu', planned })[0]).toMatch(
      /^torch is not installed after `poetry sync --with=gpu` \(ModuleNotFoundError.*\), though the lock pins torch 2\.14\.1\+cu130 from torch \(layout: single build\) for it\./,
    );
  });

  it('still checks what the driver makes of the planned build', () => {
    expect(findProblems(cudaBuild, { ...expectCuda, planned })[0]).toMatch(/^torch\.cuda\.is_available\(\) is False but expect-cuda is true/);
  });
});
