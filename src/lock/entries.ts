// Where pyproject.toml asks for torch: each entry with its group, source, markers and the
// extras that list it; and the [[tool.poetry.source]] table. The lock says what was pinned;
// these say what the project meant, for messages in the project's own names.
import { parsePipRequirementsLine } from 'pip-requirements-js';
import { normaliseName } from './lockfile.js';
import { normaliseExtra } from './markers.js';

type Table = Record<string, unknown>;

export interface TorchEntry {
  /** Where it is written, e.g. `[tool.poetry.group.cuda.dependencies]`. */
  where: string;
  group: string;
  source?: string;
  markers?: string;
  /** Extras that switch it on: [tool.poetry.extras] lists naming torch, or the PEP 621 extra it sits in. */
  extras: string[];
  constraint?: string;
}

export interface PoetrySource {
  name: string;
  url?: string;
  priority: string;
}

function table(value: unknown): Table | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Table) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

const isTorch = (name: string): boolean => normaliseName(name) === 'torch';

/** Extras of [tool.poetry.extras] whose list names torch. */
function poetryExtrasWithTorch(poetry: Table): string[] {
  return Object.entries(table(poetry.extras) ?? {})
    .filter(([, list]) => Array.isArray(list) && list.some((name) => typeof name === 'string' && isTorch(name.split(/[\s[(<>=!~;]/)[0])))
    .map(([name]) => normaliseExtra(name));
}

function poetryEntries(value: unknown, where: string, group: string, extras: string[]): TorchEntry[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    const spec = table(item);
    const markers = [str(spec?.markers), str(spec?.platform) ? `sys_platform == "${str(spec?.platform)}"` : undefined].filter(Boolean).join(' and ');
    return { where, group, source: str(spec?.source), markers: markers || undefined, extras, constraint: str(item) ?? str(spec?.version) };
  });
}

/** A PEP 508 string naming torch, as an entry; undefined for any other package or an unreadable string. */
function pepEntry(requirement: unknown, where: string, extras: string[]): TorchEntry | undefined {
  if (typeof requirement !== 'string') return undefined;
  try {
    const parsed = parsePipRequirementsLine(requirement);
    if (parsed?.type !== 'ProjectName' || !isTorch(parsed.name)) return undefined;
    const marker = requirement.includes(';') ? requirement.slice(requirement.indexOf(';') + 1).trim() : undefined;
    const constraint = parsed.versionSpec?.map((spec) => `${spec.operator}${spec.version}`).join(',');
    return { where, group: 'main', markers: marker, extras, constraint };
  } catch {
    return undefined;
  }
}

/** Every torch entry of pyproject.toml, in file order of the tables. */
export function torchEntries(pyproject: Table): TorchEntry[] {
  const poetry = table(table(pyproject.tool)?.poetry) ?? {};
  const pep = table(pyproject.project) ?? {};
  const entries: TorchEntry[] = [];
  const mainExtras = poetryExtrasWithTorch(poetry);
  for (const [name, value] of Object.entries(table(poetry.dependencies) ?? {})) {
    if (isTorch(name)) entries.push(...poetryEntries(value, '[tool.poetry.dependencies]', 'main', mainExtras));
  }
  for (const requirement of Array.isArray(pep.dependencies) ? pep.dependencies : []) {
    const entry = pepEntry(requirement, '[project] dependencies', []);
    if (entry) entries.push(entry);
  }
  for (const [extra, list] of Object.entries(table(pep['optional-dependencies']) ?? {})) {
    for (const requirement of Array.isArray(list) ? list : []) {
      const entry = pepEntry(requirement, `[project.optional-dependencies] ${extra}`, [normaliseExtra(extra)]);
      if (entry) entries.push(entry);
    }
  }
  for (const [group, spec] of Object.entries(table(poetry.group) ?? {})) {
    for (const [name, value] of Object.entries(table(table(spec)?.dependencies) ?? {})) {
      if (isTorch(name)) entries.push(...poetryEntries(value, `[tool.poetry.group.${group}.dependencies]`, normaliseName(group), []));
    }
  }
  for (const [group, list] of Object.entries(table(pyproject['dependency-groups']) ?? {})) {
    for (const requirement of Array.isArray(list) ? list : []) {
      const entry = pepEntry(requirement, `[dependency-groups] ${group}`, []);
      if (entry) entries.push({ ...entry, group: normaliseName(group) });
    }
  }
  return entries;
}

/** [[tool.poetry.source]] entries; a missing priority is Poetry 2's default, primary. */
export function poetrySources(pyproject: Table): PoetrySource[] {
  const list = table(table(pyproject.tool)?.poetry)?.source;
  return (Array.isArray(list) ? list : [])
    .map(table)
    .filter((source): source is Table => source !== undefined && typeof source.name === 'string')
    .map((source) => ({ name: String(source.name), url: str(source.url), priority: str(source.priority) ?? 'primary' }));
}

/** Extras pyproject.toml declares ([tool.poetry.extras] and [project.optional-dependencies]), normalised. */
export function declaredExtras(pyproject: Table): string[] {
  const poetry = table(table(pyproject.tool)?.poetry) ?? {};
  const pep = table(pyproject.project) ?? {};
  return [...new Set([...Object.keys(table(poetry.extras) ?? {}), ...Object.keys(table(pep['optional-dependencies']) ?? {})].map(normaliseExtra))];
}
