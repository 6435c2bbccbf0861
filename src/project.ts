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

export interface LockedTorch {
  version: string;
  /** The local label after '+', e.g. 'cu130' or 'cpu'; undefined for an unlabelled (PyPI) build. */
  label?: string;
  sourceName?: string;
  sourceUrl?: string;
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

function poetryTable(project: Project): Table {
  return table(table(project.pyproject.tool)?.poetry) ?? {};
}

export function declaredExtras(project: Project): string[] {
  const poetryExtras = Object.keys(table(poetryTable(project).extras) ?? {});
  const pepExtras = Object.keys(table(table(project.pyproject.project)?.['optional-dependencies']) ?? {});
  return [...new Set([...poetryExtras, ...pepExtras])];
}

export function declaredGroups(project: Project): string[] {
  return Object.keys(table(poetryTable(project).group) ?? {});
}

function hasTorch(deps: unknown): boolean {
  if (Array.isArray(deps)) return deps.some((dep) => typeof dep === 'string' && /^torch\b(?![-_.\w])/i.test(dep.trim()));
  return Object.keys(table(deps) ?? {}).some((name) => name.toLowerCase() === 'torch');
}

/**
 * Checks that the selection names extras and groups the project declares and that torch
 * is reachable through it, so a typo fails here, not after a multi-GB download.
 */
export function checkSelection(project: Project, selection: Selection, mode: 'cpu' | 'cuda'): void {
  const file = project.pyprojectPath;
  const extras = declaredExtras(project);
  for (const extra of selection.extras) {
    if (!extras.includes(extra)) {
      throw new ActionError(
        `Extra '${extra}' (input ${mode}-extras) is not declared in pyproject.toml: add \`${extra} = ["torch"]\` to [tool.poetry.extras], or set ${mode}-extras to one of: ${extras.join(', ') || '(none declared)'}.`,
        'Undeclared extra',
        file,
      );
    }
  }
  const groups = declaredGroups(project);
  for (const group of selection.groups) {
    if (!groups.includes(group)) {
      throw new ActionError(
        `Group '${group}' (input cuda-groups) is not declared in pyproject.toml: add [tool.poetry.group.${group}.dependencies] with the CUDA torch, or set cuda-groups to one of: ${groups.join(', ') || '(none declared)'}.`,
        'Undeclared group',
        file,
      );
    }
  }
  const poetry = poetryTable(project);
  if (mode === 'cpu') {
    const pep = table(project.pyproject.project);
    const optional = table(pep?.['optional-dependencies']) ?? {};
    const reachable = hasTorch(poetry.dependencies) || hasTorch(pep?.dependencies) || selection.extras.some((extra) => hasTorch(optional[extra]));
    if (!reachable) {
      throw new ActionError(
        "torch is not a main dependency: add torch to [tool.poetry.dependencies] with `source = \"pytorch-cpu\"` and the marker `extra=='cpu'`, as in the README's layout.",
        'torch missing from the CPU variant',
        file,
      );
    }
  } else if (selection.groups.length > 0) {
    const groupTables = table(poetry.group) ?? {};
    const reachable = selection.groups.some((group) => hasTorch(table(groupTables[group])?.dependencies));
    if (!reachable) {
      const group = selection.groups[0];
      throw new ActionError(
        `torch is not in [tool.poetry.group.${group}.dependencies]: add torch there with \`source = "pytorch-cuda"\` and the marker \`extra=='cuda'\`; without it cuda mode installs no CUDA build.`,
        'torch missing from the CUDA variant',
        file,
      );
    }
  }
}

/** The torch the lock pins for a variant: a CUDA-labelled one for cuda, else the CPU one. */
export function lockedTorch(project: Project, mode: 'cpu' | 'cuda'): LockedTorch | undefined {
  const packages = Array.isArray(project.lock.package) ? (project.lock.package as unknown[]) : [];
  const candidates: LockedTorch[] = [];
  for (const entry of packages) {
    const pkg = table(entry);
    if (!pkg || String(pkg.name).toLowerCase() !== 'torch') continue;
    const version = String(pkg.version);
    const source = table(pkg.source);
    candidates.push({
      version,
      label: version.includes('+') ? version.split('+')[1] : undefined,
      sourceName: typeof source?.reference === 'string' ? source.reference : undefined,
      sourceUrl: typeof source?.url === 'string' ? source.url : undefined,
    });
  }
  const isCuda = (torch: LockedTorch): boolean => /^cu\d+$/.test(torch.label ?? '') || (torch.label === undefined && !torch.sourceUrl);
  return mode === 'cuda' ? candidates.find(isCuda) : (candidates.find((torch) => !isCuda(torch)) ?? candidates[0]);
}
