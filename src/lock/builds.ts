// A locked torch as a build: CPU, CUDA (which version) or ROCm, from which source; and the
// one-line wordings the layout's messages share.
import { cudaFromLocalLabel } from '../cuda.js';
import type { LockedPackage } from './lockfile.js';

export interface TorchBuild {
  version: string;
  label?: string;
  kind: 'cpu' | 'cuda' | 'rocm';
  /** CUDA version of a CUDA build from its label, e.g. '13.0'; undefined for PyPI's unlabelled one. */
  cuda?: string;
  /** The [[tool.poetry.source]] name, or 'PyPI'. */
  source: string;
  url?: string;
  /** The groups the lock records it in. */
  groups: string[];
}

export interface Selection {
  extras: string[];
  groups: string[];
}

/** What kind of build a locked torch is, on this platform. */
export function buildOf(pkg: LockedPackage, platform: string): TorchBuild {
  const url = pkg.source?.url;
  const fromUrl = /\/whl\/(cpu|cu\d+|rocm[\d.]+)\/?$/.exec(url ?? '')?.[1];
  const tag = pkg.label ?? fromUrl;
  const base = { version: pkg.version, label: pkg.label, source: pkg.source?.reference ?? 'PyPI', url, groups: pkg.groups };
  if (tag === 'cpu') return { ...base, kind: 'cpu' };
  if (tag?.startsWith('cu')) return { ...base, kind: 'cuda', cuda: cudaFromLocalLabel(tag) };
  if (tag?.startsWith('rocm')) return { ...base, kind: 'rocm' };
  // PyPI's torch: a CUDA build on Linux (with the nvidia-* wheels), a CPU build elsewhere.
  return { ...base, kind: platform === 'linux' ? 'cuda' : 'cpu' };
}

export const describeSelection = (selection: Selection): string =>
  [...selection.extras.map((extra) => `--extras ${extra}`), ...selection.groups.map((group) => `--with ${group}`)].join(' ') || '(no extras or groups)';

export const describeBuild = (torch: TorchBuild): string => `torch ${torch.version} from ${torch.source}`;

export const sameNames = (a: string[], b: string[]): boolean => a.length === b.length && a.every((name) => b.includes(name));

/** The layout's name in the summary, from the selection and build each mode installs. */
export function layoutName(plans: { selection: Selection; torch: Pick<TorchBuild, 'version'> }[]): string {
  if (plans.length === 0) return 'no torch here';
  const extras = plans.some((plan) => plan.selection.extras.length > 0);
  const groups = plans.some((plan) => plan.selection.groups.length > 0);
  if (
    plans.every(
      (plan) =>
        sameNames(plan.selection.extras, plans[0].selection.extras) &&
        sameNames(plan.selection.groups, plans[0].selection.groups) &&
        plan.torch.version === plans[0].torch.version,
    )
  ) {
    return 'single build';
  }
  if (extras && groups)
    return plans.some((plan) => plan.selection.extras.length > 0 && plan.selection.groups.length > 0) ? 'extras + group' : 'extras and groups';
  return extras ? 'extras' : groups ? 'groups' : 'platform markers';
}
