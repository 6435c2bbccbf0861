import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActionError } from './errors.js';
import { lastLines, type CommandResult, type RunCommand } from './exec.js';

export interface Interpreter {
  version: string;
  executable: string;
  realpath: string;
  basePrefix: string;
}

/** The .py files sit beside the running script: src/ under test, dist/ once bundled. */
export function bundledScript(name: 'probe.py' | 'cuda_driver.py'): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), name);
}

export function probeScript(): string {
  return bundledScript('probe.py');
}

const MARKER = 'SETUP_POETRY_TORCH_PROBE ';

/** The probe's JSON line (or another marked line); other output (warnings torch prints) is ignored. */
export function parseProbeOutput<T>(result: CommandResult, marker = MARKER): T | undefined {
  const line = result.stdout.split(/\r?\n/).find((text) => text.startsWith(marker));
  if (!line) return undefined;
  try {
    return JSON.parse(line.slice(marker.length)) as T;
  } catch {
    return undefined;
  }
}

export function venvPython(venv: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
}

/** Runs probe.py's interpreter report; `failure` is the command's own last words when it did not answer. */
async function probeInterpreter(run: RunCommand, executable: string): Promise<{ interpreter?: Interpreter; failure: string }> {
  const result = await run(executable, [probeScript(), 'interpreter'], { timeoutMs: 30_000 });
  const report = parseProbeOutput<{ version: string; executable: string; realpath: string; base_prefix: string }>(result);
  if (result.exitCode !== 0 || !report) return { failure: lastLines(result, 1) || `exit ${result.exitCode}` };
  return { interpreter: { version: report.version, executable: report.executable, realpath: report.realpath, basePrefix: report.base_prefix }, failure: '' };
}

export async function describeInterpreter(run: RunCommand, executable: string): Promise<Interpreter | undefined> {
  return (await probeInterpreter(run, executable)).interpreter;
}

/**
 * The interpreter Poetry will build the venv from: the `python` input (a path, or a version
 * looked up as pythonX.Y on PATH), else the python on PATH, which is what setup-python provides.
 */
export async function resolveInterpreter(run: RunCommand, requested: string | undefined, platform: NodeJS.Platform = process.platform): Promise<Interpreter> {
  const defaultNames = platform === 'win32' ? ['python'] : ['python3', 'python'];
  let candidates: string[];
  if (requested === undefined) candidates = defaultNames;
  else if (/^\d+\.\d+(\.\d+)?$/.test(requested)) {
    const minor = requested.split('.').slice(0, 2).join('.');
    candidates = platform === 'win32' ? ['python'] : [`python${minor}`, ...defaultNames];
  } else {
    if (!fs.existsSync(requested)) {
      throw new ActionError(
        `Input 'python' is ${JSON.stringify(requested)}, which is not a file: give a version such as 3.12 or the path of an interpreter.`,
        'Invalid input: python',
      );
    }
    candidates = [requested];
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    const { interpreter: found, failure } = await probeInterpreter(run, candidate);
    if (!found) {
      failures.push(`${candidate}: ${failure}`);
      continue;
    }
    if (requested && /^\d/.test(requested) && !(found.version === requested || found.version.startsWith(`${requested}.`))) {
      failures.push(`${candidate} is Python ${found.version}`);
      continue;
    }
    return found;
  }
  const wanted = requested ? `Python ${requested}` : 'a Python interpreter';
  throw new ActionError(
    `Could not find ${wanted} (${failures.join('; ')}): add actions/setup-python before this step, or set the python input to an interpreter's path.`,
    'Python not found',
  );
}
