import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'smol-toml';
import { ActionError } from '../errors.js';
import type { RunCommand } from '../exec.js';
import type { Poetry } from './install.js';
import { explainPoetryFailure } from './sync.js';

/** The project's own choice wins: poetry.toml or the environment may turn the in-project venv off. */
export function wantsInProjectVenv(projectDir: string, env: NodeJS.ProcessEnv): boolean {
  const fromEnv = env.POETRY_VIRTUALENVS_IN_PROJECT?.toLowerCase();
  if (fromEnv === 'false' || fromEnv === '0') return false;
  return readInProjectSetting(path.join(projectDir, 'poetry.toml')) !== false;
}

/** `virtualenvs.in-project` from a project's poetry.toml; undefined when unset or unreadable (Poetry then ignores it too). */
function readInProjectSetting(file: string): boolean | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const virtualenvs = parse(fs.readFileSync(file, 'utf8')).virtualenvs as Record<string, unknown> | undefined;
    const value = virtualenvs?.['in-project'];
    return typeof value === 'boolean' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Makes Poetry create the venv from the interpreter the cache key was built for; returns its path. */
export async function createVenv(run: RunCommand, poetry: Poetry, projectDir: string, env: NodeJS.ProcessEnv, python: string): Promise<string> {
  const use = await run(poetry.command, ['env', 'use', '--no-ansi', python], { cwd: projectDir, env, timeoutMs: 300_000 });
  const info = await run(poetry.command, ['env', 'info', '--path', '--no-ansi'], { cwd: projectDir, env, timeoutMs: 60_000 });
  const venv = info.stdout.trim().split(/\r?\n/).pop();
  if (use.exitCode !== 0 || info.exitCode !== 0 || !venv) {
    throw new ActionError(`\`poetry env use ${python}\` failed: ${explainPoetryFailure(use.exitCode !== 0 ? use : info, projectDir)}`, 'Poetry env failed');
  }
  return venv;
}

/**
 * Where the venv lives. In-project it is `.venv`; elsewhere only Poetry knows the path, so an
 * env that does not exist yet is created to learn it, then removed again for the restore.
 */
export async function locateVenv(
  run: RunCommand,
  poetry: Poetry,
  projectDir: string,
  env: NodeJS.ProcessEnv,
  inProject: boolean,
  python: string,
): Promise<{ path: string; createdToLocate: boolean }> {
  if (inProject) return { path: path.join(projectDir, '.venv'), createdToLocate: false };
  const info = await run(poetry.command, ['env', 'info', '--path', '--no-ansi'], { cwd: projectDir, env, timeoutMs: 60_000 });
  const existing = info.exitCode === 0 ? info.stdout.trim().split(/\r?\n/).pop() : undefined;
  if (existing) return { path: existing, createdToLocate: false };
  return { path: await createVenv(run, poetry, projectDir, env, python), createdToLocate: true };
}
