// The project's layout: which torch builds the lock pins for this runner, and which extras and
// groups make `poetry sync` install each. Worked out by asking the lock model what each
// candidate selection installs here (lockfile.ts), so any pattern Poetry can lock is covered.
import { ActionError } from '../errors.js';
import type { Project } from '../project.js';
import { buildOf, describeBuild, describeSelection, layoutName, sameNames, type Selection, type TorchBuild } from './builds.js';
import { declaredExtras, torchEntries, type TorchEntry } from './entries.js';
import { activeGroups, isInstalled, lockedEntries, lockModel, normaliseName, type LockedPackage, type LockModel } from './lockfile.js';
import { markerExtras, normaliseExtra, parseMarker, withExtras, type MarkerEnvironment } from './markers.js';

export type { Selection, TorchBuild } from './builds.js';
export type Mode = 'cpu' | 'cuda';
/** An input's value: 'auto' (work it out) or the names given ([] for `none`). */
export type Choice = 'auto' | string[];

export interface LayoutInputs {
  cpuExtras: Choice;
  cpuGroups: Choice;
  cudaExtras: Choice;
  cudaGroups: Choice;
  /** sync-args, whose --with/--without/--only/--extras also change what is installed. */
  syncArgs?: string[];
}

export interface ModePlan {
  mode: Mode;
  selection: Selection;
  torch: TorchBuild;
  /** Said with core.notice: e.g. cpu mode installing the only (CUDA) build the lock has. */
  notice?: string;
}

export interface Layout {
  name: string;
  description: string;
  entries: TorchEntry[];
  /** One plan per mode, or the error that mode would meet (thrown by planFor). */
  plans: Record<Mode, ModePlan | ActionError>;
}

const CPU_INDEX = 'https://download.pytorch.org/whl/cpu';

/** The torch builds `poetry sync` installs for a selection here (distinct versions). */
function torchFor(model: LockModel, selection: Selection, extra: Selection, env: MarkerEnvironment): LockedPackage[] {
  const groups = new Set(activeGroups(model, { extras: [], groups: [...selection.groups, ...extra.groups] }));
  const withSelected = withExtras(env, [...selection.extras, ...extra.extras]);
  const found = lockedEntries(model, 'torch').filter((pkg) => isInstalled(model, pkg, groups, withSelected));
  return [...new Map(found.map((pkg) => [pkg.version, pkg])).values()];
}

/** --with/--extras given through sync-args: they apply to every selection. */
export function selectionInArgs(args: string[] = []): Selection {
  const extras: string[] = [];
  const groups: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = (): string[] => (inline ?? args[++i] ?? '').split(/[\s,]+/).filter(Boolean);
    if (flag === '-E' || flag === '--extras') extras.push(...value());
    else if (flag === '--with') groups.push(...value());
  }
  return { extras: extras.map(normaliseExtra), groups: groups.map(normaliseName) };
}

function candidates(pyproject: Record<string, unknown>, model: LockModel, entries: TorchEntry[]): Selection[] {
  const extras = declaredExtras(pyproject).slice(0, 12);
  const optional = model.projectGroups.filter((group) => group.optional).map((group) => group.name);
  const withTorch = optional.filter((group) => entries.some((entry) => entry.group === group));
  const groups = [...withTorch, ...optional.filter((group) => !withTorch.includes(group))].slice(0, 12);
  const out: Selection[] = [{ extras: [], groups: [] }];
  for (const extra of extras) out.push({ extras: [extra], groups: [] });
  for (const group of groups) out.push({ extras: [], groups: [group] });
  for (const extra of extras) for (const group of groups) out.push({ extras: [extra], groups: [group] });
  return out;
}

function checkNames(names: string[], declared: string[], input: string, kind: 'Extra' | 'Group', file: string): string[] {
  const normalise = kind === 'Extra' ? normaliseExtra : normaliseName;
  for (const name of names) {
    if (!declared.includes(normalise(name))) {
      throw new ActionError(
        `${kind} '${name}' (input ${input}) is not declared in pyproject.toml; it declares ${declared.length ? declared.join(', ') : `no ${kind.toLowerCase()}s`}. Set ${input} to one of them, to \`none\`, or to \`auto\` (the default) to let the action work it out.`,
        `Undeclared ${kind.toLowerCase()}`,
        file,
      );
    }
  }
  return names.map(normalise);
}

interface Context {
  project: Project;
  model: LockModel;
  env: MarkerEnvironment;
  entries: TorchEntry[];
  fromArgs: Selection;
  all: { selection: Selection; builds: TorchBuild[] }[];
  driverCuda?: string;
}

const newer = (a?: string, b?: string): number => Number(a ?? 0) - Number(b ?? 0) || Number((a ?? '0.0').split('.')[1]) - Number((b ?? '0.0').split('.')[1]);

/** A plan whose torch sits in a group where pyproject.toml has no torch: the lock is older than the project. */
function checkFresh(ctx: Context, plan: ModePlan): ModePlan {
  const homes = plan.torch.groups.filter((group) => ctx.entries.some((entry) => entry.group === group));
  if (homes.length > 0 || plan.torch.groups.length === 0) return plan;
  const stale = plan.torch.groups[0];
  const table = stale === 'main' ? '[tool.poetry.dependencies]' : `[tool.poetry.group.${stale}.dependencies]`;
  throw new ActionError(
    `${table} has no torch entry, but ${ctx.project.lockPath} pins torch ${plan.torch.version} there for ${plan.mode} mode: the lock is older than pyproject.toml. Add torch to ${table} (with its source and markers) or run \`poetry lock\` and commit poetry.lock.`,
    'poetry.lock does not match pyproject.toml',
    ctx.project.pyprojectPath,
  );
}

function pick(ctx: Context, mode: Mode, inputs: { extras: Choice; groups: Choice }): ModePlan {
  return checkFresh(ctx, choose(ctx, mode, inputs));
}

function choose(ctx: Context, mode: Mode, inputs: { extras: Choice; groups: Choice }): ModePlan {
  const { project } = ctx;
  const prefix = mode === 'cpu' ? 'cpu' : 'cuda';
  const extras =
    inputs.extras === 'auto'
      ? undefined
      : checkNames(
          inputs.extras,
          [...new Set([...Object.keys(ctx.model.extras), ...declaredExtras(project.pyproject)])],
          `${prefix}-extras`,
          'Extra',
          project.pyprojectPath,
        );
  const groups =
    inputs.groups === 'auto'
      ? undefined
      : checkNames(
          inputs.groups,
          ctx.model.projectGroups.map((group) => group.name),
          `${prefix}-groups`,
          'Group',
          project.pyprojectPath,
        );
  let pool = ctx.all.filter((c) => (!extras || sameNames(c.selection.extras, extras)) && (!groups || sameNames(c.selection.groups, groups)));
  if (pool.length === 0) {
    const selection = { extras: extras ?? [], groups: groups ?? [] };
    pool = [{ selection, builds: torchFor(ctx.model, selection, ctx.fromArgs, ctx.env).map((pkg) => buildOf(pkg, ctx.env.sys_platform)) }];
  }
  const single = pool.filter((c) => c.builds.length === 1);
  const rank = (c: { selection: Selection }): number =>
    (c.selection.extras.length + c.selection.groups.length) * 2 -
    ([...c.selection.extras, ...c.selection.groups].some((name) => (mode === 'cpu' ? /cpu/ : /cu|gpu/).test(name)) ? 1 : 0);
  const ofKind = single.filter((c) => c.builds[0].kind === mode).sort((a, b) => rank(a) - rank(b));
  if (mode === 'cuda' && ofKind.length > 1) {
    // Several CUDA builds side by side: the newest the driver supports, else the newest.
    const fits = ofKind.filter((c) => !ctx.driverCuda || !c.builds[0].cuda || newer(c.builds[0].cuda, ctx.driverCuda) <= 0);
    const best = (fits.length ? fits : ofKind).sort((a, b) => newer(b.builds[0].cuda, a.builds[0].cuda) || rank(a) - rank(b))[0];
    return { mode, selection: best.selection, torch: best.builds[0] };
  }
  if (ofKind.length > 0) return { mode, selection: ofKind[0].selection, torch: ofKind[0].builds[0] };
  const explicit = extras || groups ? ` with ${describeSelection({ extras: extras ?? [], groups: groups ?? [] })}` : '';
  const others = single.filter((c) => c.builds[0].kind !== mode).sort((a, b) => rank(a) - rank(b));
  if (mode === 'cpu' && others.length > 0 && others[0].builds[0].kind === 'cuda') {
    const torch = others[0].builds[0];
    return {
      mode,
      selection: others[0].selection,
      torch,
      notice: `cpu mode: ${project.lockPath} pins only a CUDA build of torch for this runner (${describeBuild(torch)}), so cpu mode installs that build. A CPU source (${CPU_INDEX}, priority = "explicit") for torch would save about 2.5 GB of download.`,
    };
  }
  if (others.length > 0) {
    const found = others.map((c) => `${describeBuild(c.builds[0])} (${describeSelection(c.selection)})`).join('; ');
    throw new ActionError(
      `mode is cuda, but ${project.lockPath} pins no CUDA build of torch that \`poetry sync\`${explicit} installs on this runner, only ${found}. Add a torch entry bound to a source on a cuXXX index (e.g. https://download.pytorch.org/whl/cu130) behind an extra or an optional group, run \`poetry lock\`, or use mode: cpu.`,
      'No CUDA torch in the lock',
      project.lockPath,
    );
  }
  throw noTorchError(ctx, mode, explicit);
}

function noTorchError(ctx: Context, mode: Mode, explicit: string): ActionError {
  const { env, entries, project } = ctx;
  const here = `${env.sys_platform} ${env.platform_machine}, Python ${env.python_full_version}`;
  const quoted = entries.map((entry) => `${entry.where}${entry.markers ? ` \`${entry.markers}\`` : ''} (${entry.source ?? 'PyPI'})`).join('; ');
  if (ctx.all.some((c) => c.builds.length > 0)) {
    return new ActionError(
      `${mode} mode: \`poetry sync\`${explicit} would install no torch on this runner (${here}). The torch entries are: ${quoted || 'none'}. Set ${mode}-extras/${mode}-groups to the extras and groups that install torch, or \`auto\`.`,
      'No torch for this selection',
      project.pyprojectPath,
    );
  }
  const declared = declaredExtras(project.pyproject);
  const named = [...new Set(entries.flatMap((entry) => markerExtras(parseMarker(entry.markers ?? '', project.pyprojectPath))))];
  const undeclared = named.filter((extra) => !declared.includes(extra));
  if (undeclared.length > 0) {
    return new ActionError(
      `${project.pyprojectPath}: the torch markers use extras it does not declare (${undeclared.join(', ')}), so no \`poetry sync\` installs torch on this runner. Add them to [tool.poetry.extras] (e.g. \`${undeclared[0]} = ["torch"]\`) and run \`poetry lock\`.`,
      'Undeclared extra',
      project.pyprojectPath,
    );
  }
  return new ActionError(
    entries.length === 0
      ? `${project.pyprojectPath} does not depend on torch: add torch to [tool.poetry.dependencies] or [project] dependencies, run \`poetry lock\`, and commit poetry.lock.`
      : `${project.lockPath} installs no torch on this runner (${here}) for any extra or group: the torch entries' markers exclude it: ${quoted}. Add an entry for this platform (e.g. markers = "sys_platform == '${env.sys_platform}'") and run \`poetry lock\`.`,
    'No torch for this platform',
    project.pyprojectPath,
  );
}

/** Reads the layout; `driverCuda` is the newest CUDA the driver supports (e.g. '12.8'), when known. */
export function readLayout(project: Project, env: MarkerEnvironment, inputs: LayoutInputs, driverCuda?: string): Layout {
  const model = lockModel(project);
  const entries = torchEntries(project.pyproject);
  if (!model.groupsAndMarkers) {
    const plans = {
      cpu: legacyPlan(project, model, env, 'cpu', inputs.cpuExtras, inputs.cpuGroups),
      cuda: legacyPlan(project, model, env, 'cuda', inputs.cudaExtras, inputs.cudaGroups),
    };
    const name = `unknown (lock format ${model.lockVersion})`;
    return { name, description: name, entries, plans };
  }
  const fromArgs = selectionInArgs(inputs.syncArgs);
  const all = candidates(project.pyproject, model, entries).map((selection) => ({
    selection,
    builds: torchFor(model, selection, fromArgs, env).map((pkg) => buildOf(pkg, env.sys_platform)),
  }));
  const ctx: Context = { project, model, env, entries, fromArgs, all, driverCuda };
  const attempt = (mode: Mode, choice: { extras: Choice; groups: Choice }): ModePlan | ActionError => {
    try {
      return pick(ctx, mode, choice);
    } catch (error) {
      if (error instanceof ActionError) return error;
      throw error;
    }
  };
  const plans = {
    cpu: attempt('cpu', { extras: inputs.cpuExtras, groups: inputs.cpuGroups }),
    cuda: attempt('cuda', { extras: inputs.cudaExtras, groups: inputs.cudaGroups }),
  };
  const ok = [plans.cpu, plans.cuda].filter((plan): plan is ModePlan => !(plan instanceof ActionError));
  const name = layoutName(ok);
  const parts = ok.map((plan) => `${plan.mode}: ${describeSelection(plan.selection)} -> ${describeBuild(plan.torch)}`);
  const description = ok.length === 0 ? name : name === 'single build' ? `single build: ${describeBuild(ok[0].torch)}` : `${name}: ${parts.join('; ')}`;
  return { name, description, entries, plans };
}

/**
 * A 2.0 lock (Poetry 1.x) records no groups or markers per package, so nothing can be worked out:
 * explicit inputs are taken as given (Poetry 2 re-resolves such a lock at install time); `auto` is an error.
 */
function legacyPlan(project: Project, model: LockModel, env: MarkerEnvironment, mode: Mode, extras: Choice, groups: Choice): ModePlan | ActionError {
  const tooOld = `${project.lockPath} is lock format ${model.lockVersion} (Poetry 1.x): it records no groups or markers per package, so what each mode installs cannot be told before the sync.`;
  const torch = lockedEntries(model, 'torch')
    .map((pkg) => buildOf(pkg, env.sys_platform))
    .find((build) => build.kind === mode);
  if ((extras === 'auto' && groups === 'auto') || !torch) {
    const fix = torch
      ? ` Run \`poetry lock\` with Poetry 2 and commit poetry.lock, or set ${mode}-extras and ${mode}-groups (\`none\` for no groups).`
      : ` It pins no ${mode.toUpperCase()} build of torch; run \`poetry lock\` with Poetry 2.`;
    return new ActionError(`${tooOld}${fix}`, 'Lock too old to read', project.lockPath);
  }
  try {
    const selection = {
      extras: extras === 'auto' ? [] : checkNames(extras, declaredExtras(project.pyproject), `${mode}-extras`, 'Extra', project.pyprojectPath),
      groups:
        groups === 'auto'
          ? []
          : checkNames(
              groups,
              model.projectGroups.map((group) => group.name),
              `${mode}-groups`,
              'Group',
              project.pyprojectPath,
            ),
    };
    return { mode, selection, torch, notice: `${tooOld} The step uses ${describeSelection(selection)} from the inputs and expects ${describeBuild(torch)}.` };
  } catch (error) {
    if (error instanceof ActionError) return error;
    throw error;
  }
}

/** The plan for `mode`, or its ActionError thrown. */
export function planFor(layout: Layout, mode: Mode): ModePlan {
  const plan = layout.plans[mode];
  if (plan instanceof ActionError) throw plan;
  return plan;
}
