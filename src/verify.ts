import { ActionError } from './errors.js';
import { lastLines, type RunCommand } from './exec.js';
import { capabilityInArchList, cudaFromLocalLabel, minimumDriverFor } from './cuda.js';
import { driverTooOldMessage } from './preflight.js';
import { parseProbeOutput, probeScript } from './python.js';

export interface DeviceReport {
  index: number;
  name?: string;
  capability?: string;
  memory_mib?: number;
  error?: string;
  matmul?: { value?: { ok: boolean; max_abs_error: number }; error?: string };
}

/** What the venv holds wrong, from probe.py's scan_environment (before torch is imported). */
export interface EnvironmentReport {
  duplicate_dists: { name: string; dist_infos: string[] }[];
  file_conflicts: { dists: string[]; files: number; example: string }[];
}

/** What src/probe.py prints (snake_case, as Python writes it). */
export interface ProbeReport {
  python: string;
  torch_installed: boolean;
  import_error?: string;
  torch_version?: string;
  torch_file?: string;
  cuda_version?: string | null;
  hip_version?: string | null;
  cuda_available?: boolean;
  cuda_error?: string;
  device_count?: number;
  arch_list?: string[];
  cudnn_version?: number | null;
  devices?: DeviceReport[];
  warnings?: string[];
  environment?: EnvironmentReport;
}

export async function probeTorch(run: RunCommand, python: string, options: { timeoutMs: number; gpuOpTimeoutS: number }): Promise<ProbeReport> {
  // -X faulthandler: a crash in native code (SIGILL, SIGSEGV) leaves the Python stack on stderr.
  const result = await run(python, ['-X', 'faulthandler', probeScript(), 'torch', '--gpu-op-timeout', String(options.gpuOpTimeoutS)], {
    timeoutMs: options.timeoutMs,
    env: bytecodeWritingEnv(process.env),
  });
  const report = parseProbeOutput<ProbeReport>(result);
  if (!report) {
    const environment = parseProbeOutput<EnvironmentReport>(result, ENVIRONMENT_MARKER);
    const broken = environment ? environmentProblem(environment) : undefined;
    let why: string;
    if (result.timedOut) why = `it did not finish within ${Math.round(options.timeoutMs / 1000)} s (a hung GPU or driver?)`;
    else if (result.signal) why = `${signalText(result.signal)}${crashSite(result.stderr)}`;
    else why = lastLines(result) || `exit code ${result.exitCode}`;
    throw new ActionError(`The verification probe could not run with ${python}: ${why}.${broken ? ` Likely cause: ${broken}` : ''}`, 'Verification failed');
  }
  return report;
}

const ENVIRONMENT_MARKER = 'SETUP_POETRY_TORCH_ENV ';

const SIGNALS: Partial<Record<NodeJS.Signals, string>> = {
  SIGILL: 'illegal instruction: native code built for another CPU, or a damaged library',
  SIGSEGV: 'segmentation fault in native code',
  SIGBUS: 'bus error: a damaged or truncated library file',
  SIGABRT: 'aborted by native code',
  SIGKILL: 'killed, out of memory?',
};

/** "killed by SIGILL (illegal instruction: ...)". */
export function signalText(signal: NodeJS.Signals): string {
  const meaning = SIGNALS[signal];
  return `killed by ${signal}${meaning ? ` (${meaning})` : ''}`;
}

/**
 * Where the interpreter was when it died, from faulthandler's dump of the current thread (most
 * recent call first): the innermost frames and the module being imported, e.g.
 * ` while running torch/__init__.py line 290 in _load_global_deps, importing torch`. Empty if none.
 */
export function crashSite(stderr: string): string {
  const lines = stderr.split(/\r?\n/);
  const start = lines.findIndex((line) => /^Current thread 0x[0-9a-f]+/i.test(line.trim()));
  if (start < 0) return '';
  const frames: { file: string; line: string; fn: string }[] = [];
  for (const line of lines.slice(start + 1)) {
    const frame = /^\s*File "(.+)", line (\d+) in (.+)$/.exec(line);
    if (!frame) break;
    frames.push({ file: frame[1], line: frame[2], fn: frame[3].trim() });
  }
  // Frozen importlib frames and the probe's own say nothing about what failed.
  const own = frames.filter((frame) => !frame.file.startsWith('<') && !/[\\/]probe\.py$/.test(frame.file));
  if (own.length === 0) return '';
  const short = (file: string): string => file.replace(/^.*[\\/](site|dist)-packages[\\/]/, '');
  const running = own
    .slice(0, 2)
    .map((frame) => `${short(frame.file)} line ${frame.line} in ${frame.fn}`)
    .join(', called from ');
  // The outermost module frame inside site-packages is the import that was under way.
  const imports = own.filter((frame) => frame.fn === '<module>' && short(frame.file) !== frame.file);
  const outer = imports[imports.length - 1];
  const module = outer
    ? short(outer.file)
        .replace(/[\\/]__init__\.py$/, '')
        .replace(/\.py$/, '')
        .replace(/[\\/]/g, '.')
    : undefined;
  return ` while running ${running}${module ? `, importing ${module}` : ''}`;
}

/** One sentence naming the distributions installed twice and the files two of them claim; undefined when clean. */
export function environmentProblem(environment: EnvironmentReport): string | undefined {
  const parts: string[] = [];
  for (const duplicate of environment.duplicate_dists) {
    parts.push(`${duplicate.name} is installed ${duplicate.dist_infos.length} times (${duplicate.dist_infos.join(', ')})`);
  }
  for (const conflict of environment.file_conflicts) {
    const others = conflict.files - 1;
    parts.push(
      `${conflict.dists.join(' and ')} both install ${conflict.example}${others > 0 ? ` and ${others} other file${others === 1 ? '' : 's'}` : ''} with different contents`,
    );
  }
  if (parts.length === 0) return undefined;
  const fix =
    environment.duplicate_dists.length > 0
      ? 'poetry.lock pins that package twice, and installing both in parallel can leave a shared file a mix of the two that crashes whatever loads it. Add a constraint for one version to pyproject.toml (in the group that pulls it), run `poetry lock`, and sync again.'
      : 'The last install wins each such file. Keep only one of these packages in the lock (remove or constrain the other in pyproject.toml), run `poetry lock`, and sync again.';
  return `The venv is inconsistent: ${parts.join('; ')}. ${fix}`;
}

/**
 * The probe's `import torch` writes the .pyc files of everything torch imports into the venv,
 * which is then cached: with PYTHONDONTWRITEBYTECODE (set in many container images) or a
 * PYTHONPYCACHEPREFIX outside the venv, every warm job would compile them again (~1.4 s here).
 */
export function bytecodeWritingEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { PYTHONDONTWRITEBYTECODE: _off, PYTHONPYCACHEPREFIX: _elsewhere, ...rest } = env;
  return rest;
}

export interface Expectation {
  mode: 'cpu' | 'cuda';
  expectCuda: boolean;
  /** The sync command as run, for messages. */
  syncCommand: string;
  /** One line from detection saying why CUDA can or cannot work here. */
  detectionReason: string;
  driverVersion?: string;
  platform?: NodeJS.Platform;
  /** What the layout says this mode installs (src/lock/layout.ts): the messages then use the project's own names. */
  planned?: { version: string; kind: 'cpu' | 'cuda' | 'rocm'; source: string; layout: string };
}

/** Problems against the layout's plan: the build the lock pins for this selection, in the project's names. */
function plannedProblems(report: ProbeReport, expected: Expectation, variant: BuildVariant): string[] | undefined {
  const planned = expected.planned;
  if (!planned) return undefined;
  const wanted = `torch ${planned.version} from ${planned.source} (layout: ${planned.layout})`;
  if (variant === 'none') {
    return [
      `torch is not installed after \`${expected.syncCommand}\` (${report.import_error}), though the lock pins ${wanted} for it. Check that sync-args do not take out the extra or group that brings torch, then run \`poetry lock\`.`,
    ];
  }
  const version = report.torch_version ?? '';
  if (variant !== planned.kind || version !== planned.version) {
    return [
      `${expected.mode} mode installed torch ${version} (${variant} build), not ${wanted}. Run \`poetry lock\` so the lock matches pyproject.toml, and check that sync-args change no extra or group.`,
    ];
  }
  return [];
}

/** torch's "driver too old (found version 12080)" warning, as the CUDA version the driver supports: '12.8'. */
export function cudaOfTooOldDriverWarning(warnings: string[] = []): string | undefined {
  for (const text of warnings) {
    const found = /driver on your system is too old \(found version (\d+)\)/i.exec(text);
    if (found) {
      const number = Number(found[1]);
      return `${Math.floor(number / 1000)}.${Math.floor((number % 1000) / 10)}`;
    }
  }
  return undefined;
}

export type BuildVariant = 'cpu' | 'cuda' | 'rocm' | 'none';

export function buildVariant(report: ProbeReport): BuildVariant {
  if (!report.torch_installed) return 'none';
  if (report.hip_version) return 'rocm';
  return report.cuda_version ? 'cuda' : 'cpu';
}

/** Every reason the environment is not what the mode asked for; empty when it is. */
export function findProblems(report: ProbeReport, expected: Expectation): string[] {
  const problems: string[] = [];
  const broken = report.environment ? environmentProblem(report.environment) : undefined;
  if (broken) problems.push(broken);
  const variant = buildVariant(report);
  const version = report.torch_version ?? '';
  const trap =
    "This is the `-E cuda` without `--with cuda` trap: extras bind only to main-group dependencies, so the CUDA torch must sit in the optional group named by cuda-groups, with the marker `extra=='cuda'` and its source on a cuXXX index.";

  const againstPlan = plannedProblems(report, expected, variant);
  if (againstPlan?.length) return againstPlan;
  // Without a plan (no layout read), the seed layout's wording.
  if (!againstPlan && variant === 'none') {
    if (expected.mode === 'cuda') {
      problems.push(`torch is not installed after \`${expected.syncCommand}\` (${report.import_error}). ${trap}`);
    } else {
      problems.push(
        `torch is not installed after \`${expected.syncCommand}\` (${report.import_error}): the cpu extra does not pull torch. Give torch the marker \`extra=='cpu'\` in [tool.poetry.dependencies] and list it in [tool.poetry.extras] cpu.`,
      );
    }
    return problems;
  }
  if (!againstPlan && expected.mode === 'cuda' && variant !== 'cuda') {
    const build = variant === 'rocm' ? `a ROCm build (${version}, HIP ${report.hip_version})` : `the CPU build (${version})`;
    problems.push(`cuda mode installed ${build}, not a CUDA build. ${trap}`);
  }
  if (!againstPlan && expected.mode === 'cpu' && variant !== 'cpu') {
    problems.push(
      `cpu mode installed a ${variant.toUpperCase()} build (${version}${report.cuda_version ? `, CUDA ${report.cuda_version}` : ''}): torch came from PyPI or a GPU index. Pin the main-group torch to the CPU index (\`source = "pytorch-cpu"\`, url https://download.pytorch.org/whl/cpu) and re-lock.`,
    );
  }
  const available = report.cuda_available === true;
  const driverCuda = cudaOfTooOldDriverWarning(report.warnings);
  if (!available && expected.expectCuda && driverCuda && report.cuda_version && Number(report.cuda_version.split('.')[0]) >= 11) {
    const needs = minimumDriverFor(report.cuda_version, expected.platform ?? process.platform);
    const why = `CUDA ${report.cuda_version} needs driver ${needs} or newer`;
    problems.push(driverTooOldMessage(expected.driverVersion ?? '(version unknown)', version, why, driverCuda, needs, expected.planned?.source));
  } else if (available !== expected.expectCuda) {
    if (expected.expectCuda) {
      const torchSaid = (report.warnings ?? []).find((text) => /CUDA|driver|GPU/i.test(text));
      const detail = torchSaid ? ` torch warned: ${torchSaid.split('\n')[0]}` : '';
      problems.push(
        `torch.cuda.is_available() is False but expect-cuda is true (${variant === 'cuda' ? `build ${version}, CUDA ${report.cuda_version}` : `build ${version}`}). Detection: ${expected.detectionReason}.${detail} Run on a runner with a working NVIDIA driver, or set expect-cuda: false to only check that the CUDA build installs.`,
      );
    } else {
      problems.push(
        `torch.cuda.is_available() is True but expect-cuda is false: this runner has a usable GPU (${expected.detectionReason}). Set expect-cuda: auto or true for GPU runners.`,
      );
    }
  }
  const label = version.includes('+') ? version.split('+')[1] : '';
  for (const device of report.devices ?? []) {
    const archs = report.arch_list ?? [];
    if (device.capability && archs.length > 0 && !capabilityInArchList(device.capability, archs)) {
      const sm = `sm_${device.capability.replace('.', '')}`;
      const cuda = cudaFromLocalLabel(label);
      problems.push(
        `GPU ${device.index} (${device.name ?? 'unknown'}) is ${sm}, which torch ${version} has no kernels for (built for ${archs.join(' ')}): CUDA kernels would fail with "no kernel image is available". Fix: lock a torch build for a CUDA line that covers ${sm}${cuda ? ` (this one is CUDA ${cuda}; e.g. cu126 covers sm_50 to sm_90, cu128+ adds Blackwell)` : ''}, or run on a GPU this build supports.`,
      );
      continue;
    }
    const op = device.matmul;
    if (op && !op.value?.ok) {
      const why = op.error ?? `result differs from the CPU by ${op.value?.max_abs_error}`;
      problems.push(
        `A small matmul on GPU ${device.index} (${device.name ?? 'unknown'}) failed: ${why}. The GPU or its driver is not working; check \`nvidia-smi\` and the driver's kernel log on the runner.`,
      );
    }
  }
  return problems;
}
