import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeInterpreter, venvPython, type Interpreter } from './python.js';
import type { RunCommand } from './exec.js';
import { ActionError } from './errors.js';

/**
 * Why a venv cannot be trusted with this interpreter, or undefined when it can: venvs hold
 * absolute paths to their base interpreter, so a moved or upgraded Python breaks them.
 */
export async function venvProblem(
  run: RunCommand,
  venv: string,
  interpreter: Interpreter,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  if (!fs.existsSync(path.join(venv, 'pyvenv.cfg'))) return 'it has no pyvenv.cfg';
  const python = venvPython(venv, platform);
  if (!fs.existsSync(python)) return `${python} is missing or points to an interpreter that no longer exists`;
  const found = await describeInterpreter(run, python);
  if (!found) return `${python} does not run`;
  if (found.version !== interpreter.version) return `it was built with Python ${found.version}, this runner has ${interpreter.version}`;
  if (path.resolve(found.basePrefix) !== path.resolve(interpreter.basePrefix)) {
    return `its base interpreter is ${found.basePrefix}, this runner's is ${interpreter.basePrefix}`;
  }
  return undefined;
}

/**
 * Removes the venv the action manages, and only that: the path must be the one the
 * action chose and look like a venv (or a half-restored one it just created).
 */
export function discardVenv(venv: string, createdByRestore: boolean): void {
  if (!fs.existsSync(venv)) return;
  if (!createdByRestore && !fs.existsSync(path.join(venv, 'pyvenv.cfg'))) {
    throw notAVenv(venv);
  }
  fs.rmSync(venv, { recursive: true, force: true });
}

/**
 * A folder at the venv path without pyvenv.cfg is no venv: its bin/python runs as the base
 * interpreter, so a sync would install into, and remove packages from, that interpreter.
 * Poetry would instead call it broken and delete it. Neither may happen to a user's folder.
 */
export function assertVirtualenv(venv: string): void {
  if (!fs.existsSync(path.join(venv, 'pyvenv.cfg'))) throw notAVenv(venv);
}

function notAVenv(venv: string): ActionError {
  return new ActionError(
    `${venv} exists but is not a virtualenv (no pyvenv.cfg); the action neither deletes nor installs into it: move it away, or set POETRY_VIRTUALENVS_IN_PROJECT=false to keep the venv elsewhere.`,
    'Not a virtualenv',
  );
}
