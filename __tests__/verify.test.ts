import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCommand } from '../src/exec.js';
import { venvPython } from '../src/python.js';
import { buildVariant, bytecodeWritingEnv, crashSite, environmentProblem, findProblems, probeTorch, signalText, type ProbeReport } from '../src/verify.js';

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

// A faulthandler dump as CPython 3.11 prints it when torch's native loader dies (frames recorded
// from a SIGILL double, paths as in a Poetry venv).
const FAULTHANDLER_DUMP = `Fatal Python error: Illegal instruction

Thread 0x00007f2a1c9ff6c0 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 324 in wait

Current thread 0x00007f2a2e1f7b80 (most recent call first):
  File "/home/runner/work/app/.venv/lib/python3.11/site-packages/torch/__init__.py", line 290 in _load_global_deps
  File "/home/runner/work/app/.venv/lib/python3.11/site-packages/torch/__init__.py", line 404 in <module>
  File "<frozen importlib._bootstrap>", line 241 in _call_with_frames_removed
  File "<frozen importlib._bootstrap_external>", line 940 in exec_module
  File "/home/runner/_work/_actions/setup-poetry-torch/dist/probe.py", line 121 in describe_torch

Extension modules: numpy.core._multiarray_umath (total: 1)
`;

describe('a probe that dies', () => {
  it('names the signal and what the interpreter was running, from faulthandler', () => {
    expect(signalText('SIGILL')).toBe('killed by SIGILL (illegal instruction: native code built for another CPU, or a damaged library)');
    expect(signalText('SIGKILL')).toBe('killed by SIGKILL (killed, out of memory?)');
    expect(signalText('SIGSEGV')).toContain('segmentation fault');
    expect(crashSite(FAULTHANDLER_DUMP)).toBe(
      ' while running torch/__init__.py line 290 in _load_global_deps, called from torch/__init__.py line 404 in <module>, importing torch',
    );
    expect(crashSite('Killed\n')).toBe('');
  });
});

describe('what the venv holds wrong', () => {
  it('names a distribution installed twice and the files two distributions claim, in one sentence', () => {
    const problem = environmentProblem({
      duplicate_dists: [{ name: 'nvidia-cublas', dist_infos: ['nvidia_cublas-13.1.1.3.dist-info', 'nvidia_cublas-13.10.0.20.dist-info'] }],
      file_conflicts: [
        {
          dists: ['nvidia_cublas-13.1.1.3.dist-info', 'nvidia_cublas-13.10.0.20.dist-info'],
          files: 3,
          example: 'nvidia/cu13/lib/libcublasLt.so.13',
        },
      ],
    });
    expect(problem).toBe(
      'The venv is inconsistent: nvidia-cublas is installed 2 times (nvidia_cublas-13.1.1.3.dist-info, nvidia_cublas-13.10.0.20.dist-info); ' +
        'nvidia_cublas-13.1.1.3.dist-info and nvidia_cublas-13.10.0.20.dist-info both install nvidia/cu13/lib/libcublasLt.so.13 and 2 other files with different contents. ' +
        'poetry.lock pins that package twice, and installing both in parallel can leave a shared file a mix of the two that crashes whatever loads it. ' +
        'Add a constraint for one version to pyproject.toml (in the group that pulls it), run `poetry lock`, and sync again.',
    );
    expect(environmentProblem({ duplicate_dists: [], file_conflicts: [] })).toBeUndefined();
  });

  it('puts the inconsistency first among the problems', () => {
    const report = {
      ...cudaBuild,
      environment: { duplicate_dists: [{ name: 'six', dist_infos: ['six-1.16.0.dist-info', 'six-1.17.0.dist-info'] }], file_conflicts: [] },
    };
    const problems = findProblems(report, { ...expectCuda, expectCuda: false });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^The venv is inconsistent: six is installed 2 times \(six-1\.16\.0\.dist-info, six-1\.17\.0\.dist-info\)/);
  });
});

// Real venvs (python3 -m venv) holding TEST DOUBLES: a fake torch package and hand-written
// dist-info folders, standing in for a CUDA install this machine cannot run.
describe('probe.py in a real venv (test doubles)', () => {
  let scratch: string;
  const b64 = (data: string): string => createHash('sha256').update(data).digest('base64url');

  /** A venv whose site-packages holds `files` (path -> content). */
  function makeVenv(name: string, files: Record<string, string>): string {
    const venv = path.join(scratch, name);
    execFileSync('python3', ['-m', 'venv', '--without-pip', venv]);
    const site = execFileSync(venvPython(venv), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    for (const [file, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(site, file)), { recursive: true });
      fs.writeFileSync(path.join(site, file), content);
    }
    return venv;
  }

  /** A dist-info whose RECORD claims `owned` (path -> content) with their real hashes. */
  function distInfo(name: string, version: string, owned: Record<string, string>): Record<string, string> {
    const folder = `${name.replace(/-/g, '_')}-${version}.dist-info`;
    const record = Object.entries(owned).map(([file, content]) => `${file},sha256=${b64(content)},${content.length}`);
    return {
      ...owned,
      [`${folder}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\n`,
      [`${folder}/RECORD`]: [...record, `${folder}/METADATA,,`, `${folder}/RECORD,,`, ''].join('\n'),
    };
  }

  const cpuTorchDouble = {
    'torch/__init__.py': '# TEST DOUBLE: not PyTorch.\n__version__ = "2.13.0+cpu"\nfrom . import version, cuda\n',
    'torch/version.py': '# TEST DOUBLE.\ncuda = None\nhip = None\n',
    'torch/cuda/__init__.py':
      '# TEST DOUBLE.\ndef is_available():\n    return False\n\ndef device_count():\n    return 0\n\ndef get_arch_list():\n    return []\n',
  };
  // What a parallel install of two nvidia-cublas versions leaves: both dist-infos, one shared library.
  const twoCublas = {
    ...distInfo('nvidia-cublas', '13.1.1.3', { 'nvidia/cu13/lib/libcublasLt.so.13': 'cublasLt 13.1 (double)' }),
    ...distInfo('nvidia-cublas', '13.10.0.20', { 'nvidia/cu13/lib/libcublasLt.so.13': 'cublasLt 13.10 (double)' }),
  };
  // The headers differ too (they sort first); the library is the file worth naming.
  twoCublas['nvidia_cublas-13.1.1.3.dist-info/RECORD'] =
    `nvidia/cu13/include/cublasLt.h,sha256=${b64('13.1')},4\n${twoCublas['nvidia_cublas-13.1.1.3.dist-info/RECORD']}`;
  twoCublas['nvidia_cublas-13.10.0.20.dist-info/RECORD'] =
    `nvidia/cu13/include/cublasLt.h,sha256=${b64('13.10')},5\n${twoCublas['nvidia_cublas-13.10.0.20.dist-info/RECORD']}`;

  beforeAll(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-test-'));
  });
  afterAll(() => {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('reports a SIGILL by name, with the frame torch was in', async () => {
    const venv = makeVenv('sigill', {
      // TEST DOUBLE: a torch whose import dies the way a damaged libcublasLt does in the dynamic loader.
      'torch/__init__.py':
        '# TEST DOUBLE: not PyTorch.\nimport os, signal\n\n\ndef _load_global_deps():\n    os.kill(os.getpid(), signal.SIGILL)\n\n\n_load_global_deps()\n',
    });
    const probe = probeTorch(runCommand, venvPython(venv), { timeoutMs: 60_000, gpuOpTimeoutS: 5 });
    await expect(probe).rejects.toThrow(
      `The verification probe could not run with ${venvPython(venv)}: killed by SIGILL (illegal instruction: native code built for another CPU, or a damaged library) while running torch/__init__.py line 6 in _load_global_deps, called from torch/__init__.py line 9 in <module>, importing torch.`,
    );
  });

  it('adds the inconsistent venv as the likely cause of a crash', async () => {
    const venv = makeVenv('sigill-two-cublas', {
      ...twoCublas,
      'torch/__init__.py': '# TEST DOUBLE: not PyTorch.\nimport os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n',
    });
    const probe = probeTorch(runCommand, venvPython(venv), { timeoutMs: 60_000, gpuOpTimeoutS: 5 });
    await expect(probe).rejects.toThrow(
      /killed by SIGSEGV \(segmentation fault in native code\) while running torch\/__init__\.py line 3 in <module>, importing torch\. Likely cause: The venv is inconsistent: nvidia-cublas is installed 2 times/,
    );
  });

  it('finds two dist-infos for one name and the file both claim', async () => {
    const venv = makeVenv('two-cublas', { ...cpuTorchDouble, ...twoCublas, ...distInfo('other', '1.0', { 'other/__init__.py': '' }) });
    const report = await probeTorch(runCommand, venvPython(venv), { timeoutMs: 60_000, gpuOpTimeoutS: 5 });
    expect(report.torch_version).toBe('2.13.0+cpu');
    expect(report.environment).toEqual({
      duplicate_dists: [{ name: 'nvidia-cublas', dist_infos: ['nvidia_cublas-13.1.1.3.dist-info', 'nvidia_cublas-13.10.0.20.dist-info'] }],
      file_conflicts: [
        { dists: ['nvidia_cublas-13.1.1.3.dist-info', 'nvidia_cublas-13.10.0.20.dist-info'], files: 2, example: 'nvidia/cu13/lib/libcublasLt.so.13' },
      ],
    });
    const [problem] = findProblems(report, expectCpu);
    expect(problem).toMatch(
      /^The venv is inconsistent: nvidia-cublas is installed 2 times .* both install nvidia\/cu13\/lib\/libcublasLt\.so\.13 and 1 other file with different contents/,
    );
  });

  it('finds one file claimed by two different distributions, and passes a clean venv', async () => {
    const clash = makeVenv('clash', {
      ...cpuTorchDouble,
      ...distInfo('nvidia-nvjitlink', '13.5.37', { 'nvidia/cu13/lib/libnvJitLink.so.13': 'nvjitlink 13.5 (double)' }),
      ...distInfo('cuda-toolkit-libs', '13.0.3', { 'nvidia/cu13/lib/libnvJitLink.so.13': 'nvjitlink 13.0 (double)' }),
    });
    const report = await probeTorch(runCommand, venvPython(clash), { timeoutMs: 60_000, gpuOpTimeoutS: 5 });
    expect(report.environment?.duplicate_dists).toEqual([]);
    expect(findProblems(report, expectCpu)[0]).toMatch(
      /^The venv is inconsistent: cuda_toolkit_libs-13\.0\.3\.dist-info and nvidia_nvjitlink-13\.5\.37\.dist-info both install nvidia\/cu13\/lib\/libnvJitLink\.so\.13 with different contents\. The last install wins/,
    );
    const clean = makeVenv('clean', { ...cpuTorchDouble, ...distInfo('nvidia-cublas', '13.10.0.20', { 'nvidia/cu13/lib/libcublasLt.so.13': 'x' }) });
    const ok = await probeTorch(runCommand, venvPython(clean), { timeoutMs: 60_000, gpuOpTimeoutS: 5 });
    expect(ok.environment).toEqual({ duplicate_dists: [], file_conflicts: [] });
    expect(findProblems(ok, expectCpu)).toEqual([]);
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
