import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionError } from './errors.js';
import { DEFAULT_POETRY_VERSION } from './constants.js';
import type { Choice } from './lock/layout.js';

export type Mode = 'auto' | 'cpu' | 'cuda';

export interface Inputs {
  mode: Mode;
  /** What torch.cuda.is_available() must return; 'auto' = true exactly in cuda mode. */
  expectCuda: 'auto' | boolean;
  /** Absolute path of the Poetry project, inside the workspace. */
  workingDirectory: string;
  /** 'auto': read from the layout (src/lock/layout.ts); a list overrides; `none` is []. */
  cpuExtras: Choice;
  cpuGroups: Choice;
  cudaExtras: Choice;
  cudaGroups: Choice;
  syncArgs: string[];
  python?: string;
  poetryVersion: string;
  cache: boolean;
  cacheSuffix: string;
  /** Raw; src/cache/config.ts checks them against the runner's env. */
  venvStore: string;
  venvStoreMaxSize: string;
}

/** Reads one input the way the runner passes it (INPUT_<NAME>, spaces to _, upper-case). */
export type GetInput = (name: string) => string;

export const envInput: GetInput = (name) => (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** sync-args that would point Poetry at another project or take over the action's own choices. */
const FORBIDDEN_SYNC_ARGS = /^(-C|-P|--directory|--project|--no-root-only|--dry-run|--only-root)(=|$)/;
/** Poetry also reads `-C..` and `-qP../x` (a short option with its value attached, or in a cluster); -E takes the rest as its value. */
const FORBIDDEN_SHORT_CLUSTER = /^-[A-DF-Za-z]*[CP]/;

function invalid(input: string, value: string, allowed: string): ActionError {
  const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  return new ActionError(`Input '${input}' is ${shown}; allowed: ${allowed}.`, `Invalid input: ${input}`);
}

function choice<T extends string>(get: GetInput, input: string, allowed: readonly T[], fallback: T): T {
  const raw = get(input);
  if (raw === '') return fallback;
  const value = raw.toLowerCase();
  if (!(allowed as readonly string[]).includes(value)) throw invalid(input, raw, allowed.join(', '));
  return value as T;
}

/** `auto` (or empty): the layout decides; `none`: no extras/groups; else a list of names. */
function names(get: GetInput, input: string): Choice {
  const raw = get(input);
  if (raw === '' || raw.toLowerCase() === 'auto') return 'auto';
  if (raw.toLowerCase() === 'none') return [];
  const list = raw.split(/[\s,]+/).filter(Boolean);
  for (const name of list) {
    if (!NAME.test(name) || ['auto', 'none'].includes(name.toLowerCase())) {
      throw invalid(input, name, '`auto`, `none`, or names of letters, digits, ".", "_" and "-", separated by commas or spaces');
    }
  }
  return list;
}

export interface InputContext {
  workspace: string;
}

/** Parses and checks every input once; each bad value is an ActionError naming the input. */
export function loadInputs(get: GetInput = envInput, context: InputContext = { workspace: process.env.GITHUB_WORKSPACE || process.cwd() }): Inputs {
  const mode = choice(get, 'mode', ['auto', 'cpu', 'cuda'] as const, 'auto');
  const expect = choice(get, 'expect-cuda', ['auto', 'true', 'false'] as const, 'auto');
  const cache = choice(get, 'cache', ['true', 'false'] as const, 'true');

  const workspace = path.resolve(context.workspace);
  const rawDir = get('working-directory') || '.';
  const workingDirectory = path.resolve(workspace, rawDir);
  const relative = path.relative(workspace, workingDirectory);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw invalid('working-directory', rawDir, 'a directory inside the workspace');
  }
  if (!fs.existsSync(workingDirectory) || !fs.statSync(workingDirectory).isDirectory()) {
    throw new ActionError(
      `Input 'working-directory' is ${JSON.stringify(rawDir)}, which does not exist: check out the repository first (actions/checkout) or fix the path.`,
      'Invalid input: working-directory',
    );
  }
  // A symlink inside the checkout may point anywhere: the venv would then be made outside it.
  const realRelative = path.relative(fs.realpathSync(workspace), fs.realpathSync(workingDirectory));
  if (realRelative.startsWith('..') || path.isAbsolute(realRelative)) {
    throw invalid('working-directory', rawDir, 'a directory inside the workspace (this one is a link that leads out of it)');
  }

  const syncArgs = get('sync-args').split(/\s+/).filter(Boolean);
  for (const arg of syncArgs) {
    if (FORBIDDEN_SYNC_ARGS.test(arg) || FORBIDDEN_SHORT_CLUSTER.test(arg)) {
      throw invalid('sync-args', arg, 'poetry sync options other than --directory/--project/--dry-run (use working-directory for the project)');
    }
  }

  const python = get('python') || undefined;
  if (python !== undefined && /[\r\n\0]/.test(python)) throw invalid('python', python, 'a version such as 3.12 or a path to an interpreter');

  const poetryVersion = get('poetry-version') || DEFAULT_POETRY_VERSION;
  if (!/^\d+\.\d+(\.\d+)?$/.test(poetryVersion)) throw invalid('poetry-version', poetryVersion, 'a version such as 2.5.1');

  const cacheSuffix = get('cache-suffix');
  if (/[\r\n,]/.test(cacheSuffix) || cacheSuffix.length > 100) {
    throw invalid('cache-suffix', cacheSuffix, 'one line of at most 100 characters without commas');
  }

  return {
    mode,
    expectCuda: expect === 'auto' ? 'auto' : expect === 'true',
    workingDirectory,
    cpuExtras: names(get, 'cpu-extras'),
    cpuGroups: names(get, 'cpu-groups'),
    cudaExtras: names(get, 'cuda-extras'),
    cudaGroups: names(get, 'cuda-groups'),
    syncArgs,
    python,
    poetryVersion,
    cache: cache === 'true',
    cacheSuffix,
    venvStore: get('venv-store'),
    venvStoreMaxSize: get('venv-store-max-size'),
  };
}
