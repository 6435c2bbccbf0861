import * as core from '@actions/core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeys, runnerFingerprint, type CacheKeys } from './cache/keys.js';
import type { RestoreOutcome } from './cache/restore.js';
import { places as findPlaces, planSave, restoreStage, type Places } from './cache/stage.js';
import { detectGpu, defaultDetectDeps, type Detection } from './detect/index.js';
import { ActionError } from './errors.js';
import { runCommand } from './exec.js';
import { loadInputs, type Inputs } from './inputs.js';
import { checkDuplicatePins } from './lock/duplicates.js';
import { lockModel } from './lock/lockfile.js';
import { runnerMarkerEnvironment } from './lock/markers.js';
import { locatePoetry, poetryEnvironment, type Poetry } from './poetry/install.js';
import { syncCommand, syncProject } from './poetry/sync.js';
import { createVenv, locateVenv, wantsInProjectVenv } from './poetry/venv.js';
import { preflightCuda } from './preflight.js';
import { planFor, readLayout, type Layout, type ModePlan } from './lock/layout.js';
import { loadProject, type Project, type Selection } from './project.js';
import { resolveInterpreter, venvPython, type Interpreter } from './python.js';
import { writeOutputs, writeSummary, type RunRecord } from './summary.js';
import { findProblems, probeTorch } from './verify.js';
import { assertVirtualenv, discardVenv, venvProblem } from './venv.js';

const CACHE_TIMEOUT_MS = Number(process.env.SETUP_POETRY_TORCH_CACHE_TIMEOUT_MS) || 20 * 60_000;
const SYNC_TIMEOUT_MS = 60 * 60_000;

type Mode = 'cpu' | 'cuda';

/** What the later stages need from the first two: the project, the interpreter, Poetry and the venv it manages. */
interface Setup {
  inputs: Inputs;
  mode: Mode;
  expectCuda: boolean;
  detection: Detection;
  project: Project;
  selection: Selection;
  /** What this mode installs, read from pyproject.toml and poetry.lock (src/lock/layout.ts). */
  layout: Layout;
  plan: ModePlan;
  interpreter: Interpreter;
  poetry: Poetry;
  /** The environment every Poetry call gets. */
  env: NodeJS.ProcessEnv;
  venv: string;
  keys: CacheKeys;
  /** The venv store and the GitHub cache, or why each is off. */
  places: Places;
  workspace: string;
}

/** detect → prepare → restore → sync → verify → save; outputs and the summary are written whatever happens. */
export async function run(): Promise<void> {
  const record: RunRecord = {};
  try {
    const inputs = loadInputs();
    // Detection comes first so that the GPU outputs are known even when the project is broken.
    const detection = await detect(record);
    const setup = await prepare(inputs, detection, record);
    const restored = await restore(setup, record);
    await sync(setup, restored, record);
    await verify(setup, record);
    save(setup, restored, record);
  } catch (error) {
    reportFailure(error, record);
  } finally {
    writeOutputs(record);
    await writeSummary(record);
  }
}

async function detect(record: RunRecord): Promise<Detection> {
  const detection = await core.group('Detect the GPU', async () => {
    const found = await detectGpu(defaultDetectDeps());
    for (const source of found.sources) core.info(`${source.source}: ${source.detail}`);
    core.info(found.reason);
    if (found.cudaDriverVersionDetail) core.info(`Newest CUDA the driver supports: ${found.cudaDriverVersionDetail}`);
    return found;
  });
  record.detection = detection;
  // Known as soon as detection ends: the driver's own answer, the driver table only where it could not be asked.
  record.cudaDriverVersion = detection.cudaDriverVersion;
  return detection;
}

/** Mode, project, pre-flight checks, interpreter, Poetry, and where the venv lives: everything decided before the restore. */
async function prepare(inputs: Inputs, detection: Detection, record: RunRecord): Promise<Setup> {
  const { mode, reason } = chooseMode(inputs, detection);
  record.mode = mode;
  record.modeReason = reason;
  core.info(`Mode: ${mode} (${reason})`);
  const expectCuda = inputs.expectCuda === 'auto' ? mode === 'cuda' : inputs.expectCuda;

  return core.group('Prepare the project, Python and Poetry', async () => {
    const project = loadProject(inputs.workingDirectory);
    const interpreter = await resolveInterpreter(runCommand, inputs.python);
    record.pythonVersion = `${interpreter.version} (${interpreter.executable})`;
    // Markers need the interpreter's version; nothing is downloaded before these checks.
    const markerEnv = runnerMarkerEnvironment(process.platform, process.arch, interpreter.version);
    const layout = readLayout(project, markerEnv, inputs, record.cudaDriverVersion);
    record.layout = layout.description;
    core.info(`Layout: ${layout.description}`);
    const plan = planFor(layout, mode);
    if (plan.notice) core.notice(plan.notice);
    const selection: Selection = plan.selection;
    if (mode === 'cuda') preflightCuda(project, detection, expectCuda, process.platform, plan.torch);
    // A lock that installs one package in two versions breaks the venv in ways verify can only name afterwards (issue 11).
    record.lockCheck = checkDuplicatePins(lockModel(project), selection, markerEnv, { pyprojectFile: project.pyprojectPath, selection: mode });
    core.info(record.lockCheck);
    const toolDir = process.env.RUNNER_TOOL_CACHE || path.join(os.homedir(), '.cache', 'setup-poetry-torch');
    const poetry = await locatePoetry(runCommand, inputs.poetryVersion, interpreter.executable, toolDir);
    record.poetryVersion = `${poetry.version}${poetry.installedByAction ? ' (installed by this step)' : ''}`;
    if (poetry.binDir) core.addPath(poetry.binDir);

    const inProject = wantsInProjectVenv(project.dir, process.env);
    const env = poetryEnvironment(poetry.version, process.env, inProject);
    // Later steps' `poetry run` must find the same venv with the same settings.
    if (inProject) core.exportVariable('POETRY_VIRTUALENVS_IN_PROJECT', 'true');
    if (env.POETRY_INSTALLER_RE_RESOLVE) core.exportVariable('POETRY_INSTALLER_RE_RESOLVE', env.POETRY_INSTALLER_RE_RESOLVE);

    const located = await locateVenv(runCommand, poetry, project.dir, env, inProject, interpreter.executable);
    // Outside the project only Poetry knows the path, and learning it made an empty venv: the restore needs the path free.
    if (located.createdToLocate) discardVenv(located.path, false);
    record.venvPath = located.path;
    record.pythonPath = venvPython(located.path);

    const keys = cacheKeys({
      fingerprint: runnerFingerprint(process.platform, process.arch, '/', os.release()),
      interpreter,
      mode,
      selection,
      syncArgs: inputs.syncArgs,
      lockText: project.lockText,
      suffix: inputs.cacheSuffix,
      venv: located.path,
    });
    record.cacheKey = keys.primary;
    const places = findPlaces(inputs);
    const workspace = path.resolve(process.env.GITHUB_WORKSPACE || process.cwd());
    return { inputs, mode, expectCuda, detection, project, selection, layout, plan, interpreter, poetry, env, venv: located.path, keys, places, workspace };
  });
}

/** Store exact, cache exact, store partial, cache partial, cold; an existing venv first (see cache/restore.ts). */
async function restore({ places, venv, workspace, keys, interpreter }: Setup, record: RunRecord): Promise<RestoreOutcome> {
  record.restore = await core.group('Restore the virtualenv', () =>
    restoreStage({
      places,
      venv,
      workspace,
      keys,
      cacheTimeoutMs: CACHE_TIMEOUT_MS,
      venvProblem: (candidate) => venvProblem(runCommand, candidate, interpreter),
      discard: discardVenv,
    }),
  );
  if (record.restore.kind === 'miss') record.venvDiscarded = record.restore.discarded;
  return record.restore;
}

async function sync({ poetry, selection, inputs, project, env, venv, interpreter }: Setup, restored: RestoreOutcome, record: RunRecord): Promise<void> {
  const args = syncCommand(poetry, selection, inputs.syncArgs);
  record.syncCommand = `poetry ${args.join(' ')}`;
  if (restored.kind === 'exact') {
    record.syncSkipped = `exact ${restored.from} hit: the venv was verified for this lock, selection and interpreter`;
    core.info(`Sync skipped: ${record.syncSkipped}.`);
    return;
  }
  await core.group(`Sync: ${record.syncCommand}`, async () => {
    if (!fs.existsSync(venv)) await createVenv(runCommand, poetry, project.dir, env, interpreter.executable);
    else assertVirtualenv(venv);
    const outcome = await syncProject(runCommand, poetry, project.dir, args, env, {
      maxAttempts: 3,
      backoffMs: Number(process.env.SETUP_POETRY_TORCH_RETRY_BACKOFF_MS) || 5_000,
      log: (line) => core.warning(line),
      timeoutMs: SYNC_TIMEOUT_MS,
    });
    record.syncAttempts = outcome.attempts;
    record.syncMs = outcome.durationMs;
  });
}

async function verify({ venv, mode, expectCuda, detection, project, layout, plan }: Setup, record: RunRecord): Promise<void> {
  record.probe = await core.group('Verify torch', async () => {
    const report = await probeTorch(runCommand, venvPython(venv), { timeoutMs: 300_000, gpuOpTimeoutS: 60 });
    core.info(JSON.stringify(report, null, 2));
    return report;
  });
  record.problems = findProblems(record.probe, {
    mode,
    expectCuda,
    syncCommand: record.syncCommand ?? '',
    detectionReason: detection.reason,
    driverVersion: detection.driverVersion,
    planned: { version: plan.torch.version, kind: plan.torch.kind, source: plan.torch.source, layout: layout.name },
  });
  if (record.problems.length > 0) {
    // Never cache an environment that failed verification.
    record.save = { saved: false, reason: 'verification failed' };
    throw new ActionError(record.problems.join(' | '), 'torch verification failed', project.pyprojectPath);
  }
}

/** The post step saves a snapshot of what was just verified (to the store and the cache); the step itself saves nothing. */
function save({ places, venv, workspace, keys }: Setup, restored: RestoreOutcome, record: RunRecord): void {
  const planned = planSave({ places, restore: restored, venv, workspace, key: keys.primary, cacheTimeoutMs: CACHE_TIMEOUT_MS });
  record.save = planned.cache;
  record.storeSave = planned.store;
}

/** An ActionError is the user's to fix: one annotation, no stack. Anything else is a bug and keeps its stack. */
function reportFailure(error: unknown, record: RunRecord): void {
  const message = error instanceof Error ? error.message : String(error);
  record.failure = message;
  if (error instanceof ActionError) {
    core.error(message, { title: error.title, file: error.file });
    process.exitCode = 1;
  } else {
    core.setFailed(`Unexpected error (please report it): ${error instanceof Error && error.stack ? error.stack : message}`);
  }
}

export function chooseMode(inputs: Pick<Inputs, 'mode'>, detection: Detection): { mode: Mode; reason: string } {
  if (inputs.mode === 'cpu') return { mode: 'cpu', reason: 'mode: cpu' };
  if (inputs.mode === 'cuda') return { mode: 'cuda', reason: 'mode: cuda' };
  return detection.cudaUsable
    ? { mode: 'cuda', reason: `auto: ${detection.reason}` }
    : { mode: 'cpu', reason: `auto: no usable NVIDIA GPU (${detection.diagnosis ?? detection.reason})` };
}
