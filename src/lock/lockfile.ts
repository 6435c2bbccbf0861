// poetry.lock as a typed model, and what `poetry sync` installs from it for a selection of
// extras and groups on one environment. This follows Poetry 2.x with a 2.1 lock and
// installer.re-resolve = false (the default from 2.3): a package is installed when one of its
// locked groups is active and the union of its markers for the active groups holds, with
// `extra` the set of selected extras (poetry/puzzle/transaction.py, calculate_operations).
import type { Project } from '../project.js';
import { evaluate, normaliseExtra, parseMarker, withExtras, type MarkerEnvironment } from './markers.js';

type Table = Record<string, unknown>;

export interface LockedSource {
  /** 'legacy' (a simple index), 'url', 'git', 'directory', 'file'; undefined for PyPI. */
  type?: string;
  url?: string;
  /** The [[tool.poetry.source]] name for an index source; the commit or ref for git. */
  reference?: string;
}

export interface LockedDependency {
  name: string;
  /** The version constraint, e.g. '>=4.10.0' or '*'. */
  constraint: string;
  markers?: string;
  extras: string[];
  optional: boolean;
}

export interface LockedPackage {
  /** PEP 503 normalised name. */
  name: string;
  version: string;
  /** The local label after '+', e.g. 'cu130' or 'cpu'. */
  label?: string;
  /** Normalised group names; empty in a 2.0 lock, which records none. */
  groups: string[];
  /** One marker for every group, or one per group (keys normalised); undefined: always. */
  markers?: string | Record<string, string>;
  optional: boolean;
  source?: LockedSource;
  /** Each entry of [package.dependencies]; a name locked with several markers has several entries. */
  dependencies: LockedDependency[];
  /** [package.extras]: extra name (normalised) -> requirement strings. */
  extras: Record<string, string[]>;
}

export interface ProjectGroup {
  name: string;
  optional: boolean;
}

export interface LockModel {
  file: string;
  lockVersion: string;
  /** True from lock 2.1 (Poetry 2.x): groups and markers per package, enough to tell what sync installs. */
  groupsAndMarkers: boolean;
  packages: LockedPackage[];
  /** The lock's top-level [extras] (normalised): what `--extras` accepts. */
  extras: Record<string, string[]>;
  /** Every group pyproject.toml declares, main included (normalised). */
  projectGroups: ProjectGroup[];
}

/** What `poetry sync` is asked for: extras, plus --with/--without/--only groups. */
export interface SyncSelection {
  extras: readonly string[];
  groups?: readonly string[];
  without?: readonly string[];
  only?: readonly string[];
}

export type InstallPlan = { known: true; packages: LockedPackage[]; groups: string[] } | { known: false; reason: string };

/** PEP 503 names; Poetry canonicalises group names the same way. */
export function normaliseName(name: string): string {
  return name
    .trim()
    .replace(/[-_.]+/g, '-')
    .toLowerCase();
}

function table(value: unknown): Table | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Table) : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function dependencyEntries(name: string, value: unknown): LockedDependency[] {
  const entries = Array.isArray(value) ? value : [value];
  return entries.map((entry) => {
    const spec = table(entry);
    return {
      name: normaliseName(name),
      constraint: str(entry) ?? str(spec?.version) ?? '*',
      markers: str(spec?.markers),
      extras: strings(spec?.extras),
      optional: spec?.optional === true,
    };
  });
}

function readMarkers(value: unknown): string | Record<string, string> | undefined {
  if (typeof value === 'string') return value;
  const byGroup = table(value);
  if (!byGroup) return undefined;
  return Object.fromEntries(Object.entries(byGroup).map(([group, marker]) => [normaliseName(group), String(marker)]));
}

function readPackage(entry: Table): LockedPackage {
  const version = str(entry.version) ?? '';
  const source = table(entry.source);
  const label = version.includes('+') ? version.slice(version.indexOf('+') + 1) : undefined;
  const extras = table(entry.extras) ?? {};
  return {
    name: normaliseName(str(entry.name) ?? ''),
    version,
    label,
    groups: strings(entry.groups).map(normaliseName),
    markers: readMarkers(entry.markers),
    optional: entry.optional === true,
    source: source ? { type: str(source.type), url: str(source.url), reference: str(source.reference) } : undefined,
    dependencies: Object.entries(table(entry.dependencies) ?? {}).flatMap(([name, value]) => dependencyEntries(name, value)),
    extras: Object.fromEntries(Object.entries(extras).map(([name, list]) => [normaliseExtra(name), strings(list)])),
  };
}

/** The groups pyproject.toml declares: main, each [tool.poetry.group.X] and each PEP 735 [dependency-groups] entry. */
export function projectGroups(pyproject: Table): ProjectGroup[] {
  const poetryGroups = table(table(table(pyproject.tool)?.poetry)?.group) ?? {};
  const groups = new Map<string, ProjectGroup>([['main', { name: 'main', optional: false }]]);
  for (const name of Object.keys(table(pyproject['dependency-groups']) ?? {})) groups.set(normaliseName(name), { name: normaliseName(name), optional: false });
  for (const [name, spec] of Object.entries(poetryGroups)) {
    groups.set(normaliseName(name), { name: normaliseName(name), optional: table(spec)?.optional === true });
  }
  return [...groups.values()];
}

/** Reads an already parsed poetry.lock (and the groups of its pyproject.toml) into the model. */
export function readLock(lock: Table, file: string, pyproject: Table = {}): LockModel {
  const metadata = table(lock.metadata) ?? {};
  const lockVersion = str(metadata['lock-version']) ?? '1.0';
  const [major, minor] = lockVersion.split('.').map(Number);
  const packages = (Array.isArray(lock.package) ? lock.package : []).map(table).filter((entry): entry is Table => entry !== undefined);
  const extras = table(lock.extras) ?? {};
  return {
    file,
    lockVersion,
    groupsAndMarkers: major > 2 || (major === 2 && minor >= 1),
    packages: packages.map(readPackage),
    extras: Object.fromEntries(Object.entries(extras).map(([name, list]) => [normaliseExtra(name), strings(list).map(normaliseName)])),
    projectGroups: projectGroups(pyproject),
  };
}

/** The model of a loaded project's poetry.lock (parsed once, in project.ts). */
export function lockModel(project: Project): LockModel {
  return readLock(project.lock, project.lockPath, project.pyproject);
}

/** The groups `poetry sync` activates: `--only`, else the non-optional ones plus `--with`, minus `--without`. */
export function activeGroups(model: LockModel, selection: SyncSelection): string[] {
  const only = (selection.only ?? []).map(normaliseName);
  if (only.length > 0) return [...new Set(only)];
  const without = new Set((selection.without ?? []).map(normaliseName));
  const defaults = model.projectGroups.filter((group) => !group.optional).map((group) => group.name);
  return [...new Set([...defaults, ...(selection.groups ?? []).map(normaliseName)])].filter((group) => !without.has(group));
}

/** The markers a package is installed under for these active groups (any one holding is enough), or always. */
function markerFor(pkg: LockedPackage, groups: ReadonlySet<string>): { always: boolean; markers: string[] } {
  const markers: string[] = [];
  for (const group of pkg.groups) {
    if (!groups.has(group)) continue;
    const marker = typeof pkg.markers === 'string' ? pkg.markers : (pkg.markers?.[group] ?? '');
    if (marker.trim() === '' || marker.trim() === '*') return { always: true, markers: [] };
    markers.push(marker);
  }
  return { always: false, markers };
}

/** Whether a locked package is installed for these groups and this environment (extras included). */
export function isInstalled(model: LockModel, pkg: LockedPackage, groups: ReadonlySet<string>, env: MarkerEnvironment): boolean {
  if (!pkg.groups.some((group) => groups.has(group))) return false;
  const { always, markers } = markerFor(pkg, groups);
  return always || markers.some((marker) => evaluate(parseMarker(marker, model.file), env));
}

/**
 * Exactly the packages `poetry sync` installs for `selection` on `env` (Poetry 2.x, re-resolve off).
 * A 2.0 lock (Poetry 1.8) records no groups or markers per package: Poetry re-resolves it, so
 * the answer is "cannot tell" rather than a guess.
 */
export function installedFor(model: LockModel, selection: SyncSelection, env: MarkerEnvironment): InstallPlan {
  if (!model.groupsAndMarkers) {
    return {
      known: false,
      reason: `${model.file} is lock format ${model.lockVersion} (Poetry 1.x), which records no groups or markers per package; Poetry 2 re-resolves it at install time. Run \`poetry lock\` with Poetry 2 to tell what each mode installs.`,
    };
  }
  const groups = activeGroups(model, selection);
  const active = new Set(groups);
  const withSelected = withExtras(env, selection.extras);
  return { known: true, groups, packages: model.packages.filter((pkg) => isInstalled(model, pkg, active, withSelected)) };
}

/** Every locked entry of one package (a name may be locked once per build, e.g. torch +cpu and +cu130). */
export function lockedEntries(model: LockModel, name: string): LockedPackage[] {
  const wanted = normaliseName(name);
  return model.packages.filter((pkg) => pkg.name === wanted);
}
