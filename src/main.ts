import * as core from '@actions/core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeys, cacheUnavailableReason, restoreVenv, runnerFingerprint, saveVenv, type RestoreOutcome } from './cache.js';
import { detectGpu, defaultDetectDeps, type Detection } from './detect.js';
import { ActionError } from './errors.js';
import { runCommand } from './exec.js';
import { loadInputs, type Inputs } from './inputs.js';
import { createVenv, locatePoetry, locateVenv, poetryEnvironment, syncCommand, syncProject, wantsInProjectVenv } from './poetry.js';
import { readLayout, planFor } from './lock/layout.js';
import { runnerMarkerEnvironment } from './lock/markers.js';
import { loadProject } from './project.js';
import { resolveInterpreter, venvPython, type Interpreter } from './python.js';
import { writeOutputs, writeSummary, type RunRecord } from './summary.js';
import { findProblems, probeTorch } from './verify.js';
import { assertVirtualenv, discardVenv, venvProblem } from './venv.js';
import { preflightCuda } from './preflight.js';
import { newestCudaForDriver } from './cuda.js';

const CACHE_TIMEOUT_MS = Number(process.env.SETUP_POETRY_TORCH_CACHE_TIMEOUT_MS) || 20 * 60_000;
const SYNC_TIMEOUT_MS = 60 * 60_000;

/** detect → restore → sync → verify → save; outputs and the summary are written whatever happens. */
export async function run(): Promise<void> {
  const record: RunRecord = {};
  try {
    const inputs = loadInputs();

    const detection = await core.group('Detect the GPU', async () => {
      const found = await detectGpu(defaultDetectDeps());
      for (const source of found.sources) core.info(`${source.source}: ${source.detail}`);
      core.info(found.reason);
      return found;
    });
    record.detection = detection;
    const { mode, reason } = chooseMode(inputs, detection);
    record.mode = mode;
    record.modeReason = reason;
    core.info(`Mode: ${mode} (${reason})`);
    const expectCuda = inputs.expectCuda === 'auto' ? mode === 'cuda' : inputs.expectCuda;

    const project = loadProject(inputs.workingDirectory);
    if (detection.driverVersion) record.cudaDriverVersion = newestCudaForDriver(detection.driverVersion, process.platform);
    const interpreter = await resolveInterpreter(runCommand, inputs.python);
    record.pythonVersion = `${interpreter.version} (${interpreter.executable})`;

    // What each mode installs, from pyproject.toml and poetry.lock, before anything is downloaded.
    const layout = readLayout(
      project,
      runnerMarkerEnvironment(process.platform, process.arch, interpreter.version),
      { ...inputs, syncArgs: inputs.syncArgs },
      record.cudaDriverVersion,
    );
    record.layout = layout.description;
    core.info(`Layout: ${layout.description}`);
    const plan = planFor(layout, mode);
    if (plan.notice) core.notice(plan.notice);
    const selection = plan.selection;
    if (mode === 'cuda') preflightCuda(project, detection, expectCuda, process.platform, plan.torch);
    const toolDir = process.env.RUNNER_TOOL_CACHE || path.join(os.homedir(), '.cache', 'setup-poetry-torch');
    const poetry = await locatePoetry(runCommand, inputs.poetryVersion, interpreter.executable, toolDir);
    record.poetryVersion = `${poetry.version}${poetry.installedByAction ? ' (installed by this step)' : ''}`;
    if (poetry.binDir) core.addPath(poetry.binDir);
    const inProject = wantsInProjectVenv(project.dir, process.env);
    const env = poetryEnvironment(poetry.version, process.env, inProject);
    // Later steps' `poetry run` must find the same venv with the same settings.
    if (inProject) core.exportVariable('POETRY_VIRTUALENVS_IN_PROJECT', 'true');
    if (env.POETRY_INSTALLER_RE_RESOLVE) core.exportVariable('POETRY_INSTALLER_RE_RESOLVE', env.POETRY_INSTALLER_RE_RESOLVE);

    // Restore
    const located = await locateVenv(runCommand, poetry, project.dir, env, inProject, interpreter.executable);
    if (located.createdToLocate) discardVenv(located.path, false);
    const venv = located.path;
    record.venvPath = venv;
    record.pythonPath = venvPython(venv);
    const keys = cacheKeys({
      fingerprint: runnerFingerprint(process.platform, process.arch, '/', os.release()),
      interpreter,
      mode,
      selection,
      syncArgs: inputs.syncArgs,
      lockText: project.lockText,
      suffix: inputs.cacheSuffix,
    });
    record.cacheKey = keys.primary;
    record.restore = await core.group('Restore the virtualenv', () => restore(inputs, venv, keys, interpreter, record));

    // Sync
    const args = syncCommand(poetry, selection, inputs.syncArgs);
    record.syncCommand = `poetry ${args.join(' ')}`;
    if (record.restore.kind === 'exact') {
      record.syncSkipped = 'exact cache hit: the venv was saved from this lock, selection and interpreter after it passed verification';
      core.info(`Sync skipped: ${record.syncSkipped}.`);
    } else {
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

    // Verify
    const probe = await core.group('Verify torch', async () => {
      const report = await probeTorch(runCommand, venvPython(venv), { timeoutMs: 300_000, gpuOpTimeoutS: 60 });
      core.info(JSON.stringify(report, null, 2));
      return report;
    });
    record.probe = probe;
    const problems = findProblems(probe, {
      mode,
      expectCuda,
      syncCommand: record.syncCommand,
      detectionReason: detection.reason,
      driverVersion: detection.driverVersion,
      planned: { version: plan.torch.version, kind: plan.torch.kind, source: plan.torch.source, layout: layout.name },
    });
    record.problems = problems;
    if (problems.length > 0) {
      // Never cache an environment that failed verification.
      record.save = { saved: false, reason: 'verification failed' };
      throw new ActionError(problems.join(' | '), 'torch verification failed', project.pyprojectPath);
    }

    // Save
    if (!inputs.cache) record.save = { saved: false, reason: 'cache: false' };
    else if (record.restore.kind === 'exact') record.save = { saved: false, reason: 'exact hit, nothing new to save' };
    else if (record.restore.kind === 'skipped') record.save = { saved: false, reason: record.restore.reason };
    else {
      record.save =
        record.restore.kind === 'failed' && record.restore.stalled
          ? // Archiving first and then waiting out the same bound again would double the stall.
            { saved: false, reason: `not tried: the cache service stalled during the restore (${record.restore.reason})` }
          : await core.group('Save the virtualenv', () => saveVenv(venv, keys.primary, CACHE_TIMEOUT_MS));
      if (!record.save.saved && !record.save.expected) core.warning(`The virtualenv was not saved to the cache: ${record.save.reason}`);
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    record.failure = message;
    if (error instanceof ActionError) {
      core.error(message, { title: error.title, file: error.file });
      process.exitCode = 1;
    } else {
      core.setFailed(`Unexpected error (please report it): ${error instanceof Error && error.stack ? error.stack : message}`);
    }
  } finally {
    writeOutputs(record);
    await writeSummary(record);
  }
}

export function chooseMode(inputs: Inputs, detection: Detection): { mode: 'cpu' | 'cuda'; reason: string } {
  if (inputs.mode === 'cpu') return { mode: 'cpu', reason: 'mode: cpu' };
  if (inputs.mode === 'cuda') return { mode: 'cuda', reason: 'mode: cuda' };
  return detection.cudaUsable
    ? { mode: 'cuda', reason: `auto: ${detection.reason}` }
    : { mode: 'cpu', reason: `auto: no usable NVIDIA GPU (${detection.diagnosis ?? detection.reason})` };
}

async function restore(
  inputs: Inputs,
  venv: string,
  keys: { primary: string; restorePrefix: string },
  interpreter: Interpreter,
  record: RunRecord,
): Promise<RestoreOutcome> {
  if (!inputs.cache) return { kind: 'skipped', reason: 'cache: false' };
  const unavailable = cacheUnavailableReason();
  if (unavailable) {
    core.notice(`Cache skipped: ${unavailable}.`);
    return { kind: 'skipped', reason: unavailable };
  }
  if (fs.existsSync(venv)) {
    // A persistent workspace (self-hosted runner) already has one: sync brings it up to date.
    const problem = await venvProblem(runCommand, venv, interpreter);
    if (!problem) {
      core.info(`${venv} already exists and works with this interpreter; restoring over it is skipped.`);
      return { kind: 'skipped', reason: `${venv} already existed` };
    }
    core.info(`Existing ${venv} is unusable (${problem}); replacing it.`);
    discardVenv(venv, false);
  }
  const outcome = await restoreVenv(venv, keys, CACHE_TIMEOUT_MS);
  if (outcome.kind === 'failed' || outcome.kind === 'miss') {
    if (outcome.kind === 'failed') core.warning(`Cache restore failed, continuing with a cold sync: ${outcome.reason}`);
    discardVenv(venv, true); // whatever a broken extraction left behind
    if (outcome.kind === 'miss') core.info(`No cache entry for ${keys.primary} or ${keys.restorePrefix}*.`);
    return outcome;
  }
  core.info(`Restored ${venv} from ${outcome.matchedKey} (${outcome.kind}).`);
  const problem = await venvProblem(runCommand, venv, interpreter);
  if (problem) {
    record.venvDiscarded = problem;
    core.warning(`The restored virtualenv cannot be used (${problem}); deleting it and syncing cold.`);
    discardVenv(venv, true);
    return { kind: 'miss', durationMs: outcome.durationMs };
  }
  return outcome;
}
