import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ActionError } from './errors.js';

type Table = Record<string, unknown>;

export interface Project {
  dir: string;
  pyprojectPath: string;
  lockPath: string;
  pyproject: Table;
  lock: Table;
  lockText: string;
}

export interface Selection {
  extras: string[];
  groups: string[];
}

function table(value: unknown): Table | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Table) : undefined;
}

function readToml(file: string, fix: string): { data: Table; text: string } {
  const name = path.basename(file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ActionError(`${name} not found in ${path.dirname(file)}: ${fix}`, `Missing ${name}`, file);
  }
  try {
    return { data: parse(text), text };
  } catch (error) {
    if (error instanceof TomlError) {
      const first = error.message.split('\n')[0];
      throw new ActionError(`${name} is not valid TOML at line ${error.line}, column ${error.column}: ${first}`, `Invalid ${name}`, file);
    }
    throw error;
  }
}

/** `name = url` for each [[tool.poetry.source]] on `host` (host[:port]), for an error message; empty when unreadable. */
export function sourcesOnHost(dir: string, host: string): string[] {
  try {
    const poetry = table(table(readToml(path.join(dir, 'pyproject.toml'), '').data.tool)?.poetry);
    const sources = Array.isArray(poetry?.source) ? poetry.source.map(table) : [];
    return sources
      .filter((source) => typeof source?.url === 'string' && new URL(source.url).host === host)
      .map((source) => `${String(source?.name)} = ${String(source?.url)}`);
  } catch {
    return [];
  }
}

/** Reads pyproject.toml and poetry.lock; both must exist, since a missing lock makes Poetry re-lock silently. */
export function loadProject(dir: string): Project {
  const pyprojectPath = path.join(dir, 'pyproject.toml');
  const lockPath = path.join(dir, 'poetry.lock');
  const pyproject = readToml(pyprojectPath, 'set working-directory to the folder that holds your Poetry project.').data;
  if (!table(pyproject.tool)?.poetry && !table(pyproject.project)) {
    throw new ActionError(
      `${pyprojectPath} has neither [tool.poetry] nor [project]: this is not a Poetry project; set working-directory to the one that is.`,
      'Not a Poetry project',
      pyprojectPath,
    );
  }
  const lock = readToml(lockPath, 'run `poetry lock` and commit poetry.lock (the action never locks in CI: that would install unpinned versions).');
  return { dir, pyprojectPath, lockPath, pyproject, lock: lock.data, lockText: lock.text };
}
