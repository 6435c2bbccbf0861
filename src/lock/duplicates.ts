// A lock that installs two versions of one package (issue 11). Poetry 2.x can lock a package
// twice with markers that both hold for one selection, e.g. the CUDA torch's nvidia-cublas:
// 13.1.1.3 through cuda-toolkit[cublas]==13.0.3, 13.10.0.20 for nvidia-cudnn-cu13's loose
// requirement. `poetry sync` then installs both, in parallel, over the same files, and
// `import torch` may die in the dynamic loader. Caught here, before anything is downloaded.
import { compare, satisfies, validRange } from '@renovatebot/pep440';
import { ActionError } from '../errors.js';
import { installedFor, type LockModel, type LockedPackage, type SyncSelection } from './lockfile.js';
import type { MarkerEnvironment } from './markers.js';

/** A locked package that depends on the duplicated one. */
export interface Dependent {
  name: string;
  version: string;
  /** The constraint as locked, e.g. '==13.1.1.3.*' or '*'. */
  constraint: string;
  /** The dependent's own extras that pull it in (cuda-toolkit[cublas]). */
  viaExtras: string[];
}

export interface DuplicatePin {
  name: string;
  /** Oldest first. */
  versions: { version: string; entry: LockedPackage; wantedBy: Dependent[] }[];
  /** The newest locked version every dependent's constraint accepts, if any. */
  settle?: string;
  /** The pyproject.toml table to pin it in, and the line to add there. */
  table: string;
  line?: string;
}

/** True when `version` meets a constraint as Poetry writes it in poetry.lock ('*', '1.2', '>=1,<2', 'a || b'); undefined when unreadable. */
export function accepts(constraint: string, version: string): boolean | undefined {
  const alternatives = constraint.split('||').map((part) => part.trim());
  let unknown = false;
  for (const part of alternatives) {
    if (part === '' || part === '*') return true;
    const spec = /^\d/.test(part) ? `==${part}` : part.replace(/\s*,\s*/g, ',');
    if (!validRange(spec)) {
      unknown = true;
      continue;
    }
    if (satisfies(version, spec, { prereleases: true })) return true;
  }
  return unknown ? undefined : false;
}

function dependentsOf(name: string, installed: LockedPackage[]): Dependent[] {
  const found: Dependent[] = [];
  for (const pkg of installed) {
    // The extras of pkg that something installed asks for (torch asks cuda-toolkit for cublas, cufft...).
    const requested = new Set(installed.flatMap((other) => other.dependencies.filter((d) => d.name === pkg.name).flatMap((d) => d.extras.map(normalise))));
    for (const dependency of pkg.dependencies) {
      if (dependency.name !== name) continue;
      const viaExtras = dependency.optional
        ? Object.entries(pkg.extras)
            .filter(([extra]) => requested.has(extra))
            .filter(([, requirements]) => requirements.some((requirement) => normalise(requirement.split(/[\s([;<>=!~]/)[0]) === name))
            .map(([extra]) => extra)
        : [];
      found.push({ name: pkg.name, version: pkg.version, constraint: dependency.constraint, viaExtras });
    }
  }
  return found;
}

const normalise = (name: string): string =>
  name
    .trim()
    .replace(/[-_.]+/g, '-')
    .toLowerCase();

/** `[tool.poetry.group.cuda.dependencies]`, or the main table. */
function tableFor(group: string): string {
  return group === 'main' ? '[tool.poetry.dependencies]' : `[tool.poetry.group.${group}.dependencies]`;
}

function markerOf(entry: LockedPackage, group: string): string {
  return (typeof entry.markers === 'string' ? entry.markers : (entry.markers?.[group] ?? '')).trim();
}

/** A TOML string: basic when it holds no double quote, else literal (markers are full of them). */
function tomlString(text: string): string {
  return text.includes('"') && !text.includes("'") ? `'${text}'` : JSON.stringify(text);
}

function settleLine(name: string, version: string, marker: string): string {
  return marker === '' || marker === '*' ? `${name} = "${version}"` : `${name} = { version = "${version}", markers = ${tomlString(marker)} }`;
}

/**
 * Every package `poetry sync` would install in more than one version for `selection` on `env`.
 * Undefined when the lock cannot tell (a Poetry 1.x lock). A package locked twice with markers
 * that exclude each other (the cpu and the cuda torch) is installed once and passes.
 */
export function findDuplicatePins(model: LockModel, selection: SyncSelection, env: MarkerEnvironment): DuplicatePin[] | undefined {
  const plan = installedFor(model, selection, env);
  if (!plan.known) return undefined;
  const byName = new Map<string, LockedPackage[]>();
  for (const pkg of plan.packages) byName.set(pkg.name, [...(byName.get(pkg.name) ?? []), pkg]);
  const duplicates: DuplicatePin[] = [];
  for (const [name, entries] of byName) {
    if (new Set(entries.map((entry) => entry.version)).size < 2) continue;
    const sorted = [...entries].sort((a, b) => compare(a.version, b.version));
    const dependents = dependentsOf(name, plan.packages);
    const newest = sorted[sorted.length - 1].version;
    const versions = sorted.map((entry) => ({
      version: entry.version,
      entry,
      // A loose constraint is what Poetry met with the newest version; a pin, with the one it names.
      wantedBy: dependents.filter((dependent) => {
        const all = sorted.every((other) => accepts(dependent.constraint, other.version) !== false);
        return all ? entry.version === newest : accepts(dependent.constraint, entry.version) === true;
      }),
    }));
    const settle = [...sorted]
      .reverse()
      .find((candidate) => dependents.every((dependent) => accepts(dependent.constraint, candidate.version) !== false))?.version;
    const activeGroups = new Set(plan.groups);
    const groups = [...new Set(sorted.flatMap((entry) => entry.groups.filter((group) => activeGroups.has(group))))];
    // A pin in the main group would reach every mode; the optional group that pulls it only this one.
    const group = groups.find((candidate) => candidate !== 'main') ?? groups[0] ?? 'main';
    const marker = sorted.map((entry) => markerOf(entry, group)).reduce((best, text) => (text.length < best.length ? text : best));
    duplicates.push({ name, versions, settle, table: tableFor(group), line: settle ? settleLine(name, settle, marker) : undefined });
  }
  return duplicates.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function describeDependent(dependent: Dependent): string {
  const extras = dependent.viaExtras.length > 0 ? `[${dependent.viaExtras.join(',')}]` : '';
  const wants = dependent.constraint === '*' || dependent.constraint === '' ? 'any version' : dependent.constraint;
  return `${dependent.name}${extras} ${dependent.version} (${wants})`;
}

/** The one-line error: each package, its versions, who wants each, and the lines that settle them. */
export function duplicatePinsMessage(
  duplicates: DuplicatePin[],
  where: { lockFile: string; pyprojectFile: string; selection: string; runner: string },
): string {
  const what = duplicates.map((duplicate) => {
    const versions = duplicate.versions.map(
      ({ version, wantedBy }) => `${version} (${wantedBy.length > 0 ? `for ${wantedBy.map(describeDependent).join(', ')}` : 'no locked package names it'})`,
    );
    return `${duplicate.name} ${versions.join(' and ')}`;
  });
  const fixes = new Map<string, string[]>();
  const unsettled: string[] = [];
  for (const duplicate of duplicates) {
    if (duplicate.line) fixes.set(duplicate.table, [...(fixes.get(duplicate.table) ?? []), duplicate.line]);
    else {
      const constraints = duplicate.versions.flatMap(({ wantedBy }) => wantedBy.map(describeDependent));
      unsettled.push(`no locked version of ${duplicate.name} satisfies all of ${constraints.join(', ')}: change or drop one of those dependencies`);
    }
  }
  const lines = [...fixes].map(([table, entries]) => `add ${entries.map((entry) => `\`${entry}\``).join(' and ')} to ${table}`);
  const fix = [...lines, ...unsettled].join('; ');
  const count = duplicates.length === 1 ? 'a package' : `${duplicates.length} packages`;
  return (
    `${where.lockFile} pins ${count} in two versions that both install for ${where.selection} on this runner (${where.runner}): ${what.join('; ')}. ` +
    `\`poetry sync\` would install both versions into one venv, in parallel, over the same files, and torch can then crash on import. ` +
    `Fix: in ${where.pyprojectFile}, ${fix}; then run \`poetry lock\`.`
  );
}

/**
 * The pre-flight: throws one ActionError when the lock installs any package twice for this
 * selection; else returns the summary line, e.g. 'lock: 214 packages, no duplicate pins for cuda'.
 */
export function checkDuplicatePins(
  model: LockModel,
  selection: SyncSelection,
  env: MarkerEnvironment,
  where: { pyprojectFile: string; selection: string },
): string {
  const duplicates = findDuplicatePins(model, selection, env);
  if (duplicates === undefined) return `lock: ${model.packages.length} packages, duplicate pins not checked (lock format ${model.lockVersion})`;
  if (duplicates.length > 0) {
    const runner = `${env.platform_system} ${env.platform_machine}, Python ${env.python_version}`;
    throw new ActionError(
      duplicatePinsMessage(duplicates, { lockFile: model.file, pyprojectFile: where.pyprojectFile, selection: where.selection, runner }),
      'Duplicate pins in poetry.lock',
      model.file,
    );
  }
  return `lock: ${model.packages.length} packages, no duplicate pins for ${where.selection}`;
}
