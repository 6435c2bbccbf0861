// PEP 508 environment markers: parsed by pip-requirements-js, evaluated here against a
// runner's environment and a SET of active extras (Poetry's semantics when several
// extras are selected at once: `extra == "x"` holds iff x is one of them).
import { satisfies, valid, validRange } from '@renovatebot/pep440';
import { parsePipRequirementsLine, type EnvironmentMarker, type EnvironmentMarkerLeaf } from 'pip-requirements-js';
import { ActionError } from '../errors.js';

export type Marker = EnvironmentMarker;

/** The values markers compare against; `extras` is the set of active extras, normalised. */
export interface MarkerEnvironment {
  sys_platform: string;
  platform_system: string;
  platform_machine: string;
  python_version: string;
  python_full_version: string;
  os_name: string;
  implementation_name: string;
  implementation_version: string;
  platform_python_implementation: string;
  platform_release?: string;
  platform_version?: string;
  extras: ReadonlySet<string>;
}

type Variable = Exclude<keyof MarkerEnvironment, 'extras'> | 'extra';

const VARIABLES = new Set<string>([
  'sys_platform',
  'platform_system',
  'platform_machine',
  'python_version',
  'python_full_version',
  'os_name',
  'implementation_name',
  'implementation_version',
  'platform_python_implementation',
  'platform_release',
  'platform_version',
  'extra',
]);

/** PEP 685: extras compare lower-cased, with each run of `-`, `_` and `.` read as one `-`. */
export function normaliseExtra(name: string): string {
  return name
    .trim()
    .replace(/[-_.]+/g, '-')
    .toLowerCase();
}

/** Node's os.arch() as Python's platform.machine() reports it on each OS. */
function machine(platform: NodeJS.Platform, arch: string): string {
  if (platform === 'win32') return ({ x64: 'AMD64', arm64: 'ARM64', ia32: 'x86' } as Record<string, string>)[arch] ?? arch.toUpperCase();
  if (arch === 'x64') return 'x86_64';
  if (arch === 'arm64') return platform === 'darwin' ? 'arm64' : 'aarch64';
  return ({ ia32: 'i686', arm: 'armv7l', ppc64: 'ppc64le' } as Record<string, string>)[arch] ?? arch;
}

/** The marker environment of a CPython `pythonFullVersion` on this runner (Node's platform/arch names). */
export function runnerMarkerEnvironment(
  platform: NodeJS.Platform,
  arch: string,
  pythonFullVersion: string,
  extras: Iterable<string> = [],
  extra: { platformRelease?: string; platformVersion?: string } = {},
): MarkerEnvironment {
  const [major, minor] = pythonFullVersion.split('.');
  const system = ({ linux: 'Linux', darwin: 'Darwin', win32: 'Windows', freebsd: 'FreeBSD' } as Record<string, string>)[platform] ?? platform;
  return {
    sys_platform: platform,
    platform_system: system,
    platform_machine: machine(platform, arch),
    python_version: `${major}.${minor}`,
    python_full_version: pythonFullVersion,
    os_name: platform === 'win32' ? 'nt' : 'posix',
    implementation_name: 'cpython',
    implementation_version: pythonFullVersion,
    platform_python_implementation: 'CPython',
    platform_release: extra.platformRelease,
    platform_version: extra.platformVersion,
    extras: new Set([...extras].map(normaliseExtra)),
  };
}

/** The same environment with another set of active extras. */
export function withExtras(env: MarkerEnvironment, extras: Iterable<string>): MarkerEnvironment {
  return { ...env, extras: new Set([...extras].map(normaliseExtra)) };
}

const parsed = new Map<string, Marker | null>();

/** Parses a marker; an empty one is `null` (always true). Throws an ActionError naming `file` and the marker. */
export function parseMarker(text: string, file: string): Marker | null {
  const marker = text.trim();
  if (marker === '') return null;
  const known = parsed.get(marker);
  if (known !== undefined) return known;
  let tree: Marker | null;
  try {
    const requirement = parsePipRequirementsLine(`x; ${marker}`);
    tree = requirement?.type === 'ProjectName' ? (requirement.environmentMarkerTree ?? null) : null;
  } catch {
    tree = null;
  }
  if (!tree) {
    throw new ActionError(
      `${file} has a marker that is not valid PEP 508: ${JSON.stringify(marker)}. Fix it (e.g. sys_platform == "linux" and extra == "cuda") and run \`poetry lock\`.`,
      'Invalid marker',
      file,
    );
  }
  parsed.set(marker, tree);
  return tree;
}

function isLeaf(marker: Marker): marker is EnvironmentMarkerLeaf {
  return marker.operator !== 'and' && marker.operator !== 'or';
}

function unquote(value: string): string | undefined {
  return /^(["']).*\1$/s.test(value) ? value.slice(1, -1) : undefined;
}

const VERSION_VARIABLES = new Set(['python_version', 'python_full_version', 'implementation_version', 'platform_release']);

/** PEP 508's rule: a version comparison when both sides are versions, else a string one. */
function compare(left: string, operator: string, right: string, versions: boolean): boolean {
  if (operator === 'in') return right.includes(left);
  if (operator === 'not in') return !right.includes(left);
  if (versions && valid(left) && operator !== '===' && validRange(`${operator}${right}`)) {
    return satisfies(left, `${operator}${right}`, { prereleases: true });
  }
  switch (operator) {
    case '==':
    case '===':
      return left === right;
    case '!=':
      return left !== right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    default:
      return false; // `~=` on strings: undefined by PEP 508, never true
  }
}

function evaluateLeaf(leaf: EnvironmentMarkerLeaf, env: MarkerEnvironment): boolean {
  const variableOnLeft = VARIABLES.has(leaf.left);
  const variable = (variableOnLeft ? leaf.left : leaf.right) as Variable;
  const literal = unquote(variableOnLeft ? leaf.right : leaf.left) ?? '';
  if (variable === 'extra') {
    const wanted = normaliseExtra(literal);
    const active = env.extras;
    switch (leaf.operator as string) {
      case '==':
      case '===':
        return active.has(wanted);
      case '!=':
        return !active.has(wanted);
      case 'in':
      case 'not in': {
        const hit = variableOnLeft ? [...active].some((extra) => literal.includes(extra)) : [...active].some((extra) => extra.includes(literal));
        return leaf.operator === 'in' ? hit : !hit;
      }
      default:
        return false;
    }
  }
  const value = env[variable] ?? '';
  const versions = VERSION_VARIABLES.has(variable);
  return variableOnLeft ? compare(value, leaf.operator, literal, versions) : compare(literal, leaf.operator, value, versions);
}

/** Evaluates a parsed marker; `null` (no marker) is true. */
export function evaluate(marker: Marker | null, env: MarkerEnvironment): boolean {
  if (marker === null) return true;
  if (isLeaf(marker)) return evaluateLeaf(marker, env);
  if (marker.operator === 'and') return evaluate(marker.left, env) && evaluate(marker.right, env);
  return evaluate(marker.left, env) || evaluate(marker.right, env);
}

/** Parses and evaluates a marker string from `file` (for the error message). */
export function markerHolds(text: string | undefined, env: MarkerEnvironment, file: string): boolean {
  return evaluate(parseMarker(text ?? '', file), env);
}

/** The extras a marker mentions (normalised): what can switch it on or off. */
export function markerExtras(marker: Marker | null): string[] {
  if (marker === null) return [];
  if (!isLeaf(marker)) return [...new Set([...markerExtras(marker.left), ...markerExtras(marker.right)])];
  if (leafVariable(marker) !== 'extra') return [];
  const literal = unquote(VARIABLES.has(marker.left) ? marker.right : marker.left);
  return literal === undefined ? [] : [normaliseExtra(literal)];
}

function leafVariable(leaf: EnvironmentMarkerLeaf): string {
  return VARIABLES.has(leaf.left) ? leaf.left : leaf.right;
}
