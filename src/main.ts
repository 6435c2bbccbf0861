import * as core from '@actions/core';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheKeys, runnerFingerprint } from './cache/keys.js';
import { places as findPlaces, planSave, restoreStage } from './cache/stage.js';
import { detectGpu, defaultDetectDeps, type Detection } from './detect.js';
import { ActionError } from './errors.js';
import { runCommand } from './exec.js';
import { loadInputs, type Inputs } from './inputs.js';
import { createVenv, locatePoetry, locateVenv, poetryEnvironment, syncCommand, syncProject, wantsInProjectVenv } from './poetry.js';
import { checkSelection, loadProject, type Selection } from './project.js';
import { resolveInterpreter, venvPython } from './python.js';
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
    const selection: Selection = mode === 'cuda' ? { extras: inputs.cudaExtras, groups: inputs.cudaGroups } : { extras: inputs.cpuExtras, groups: [] };
    checkSelection(project, selection, mode);
    if (detection.driverVersion) record.cudaDriverVersion = newestCudaForDriver(detection.driverVersion, process.platform);
    if (mode === 'cuda') preflightCuda(project, detection, expectCuda, process.platform);

    const interpreter = await resolveInterpreter(runCommand, inputs.python);
    record.pythonVersion = `${interpreter.version} (${interpreter.executable})`;
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
      venv,
    });
    record.cacheKey = keys.primary;
    const workspace = path.resolve(process.env.GITHUB_WORKSPACE || process.cwd());
    const places = findPlaces(inputs);
    const restored = await core.group('Restore the virtualenv', () =>
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
    record.restore = restored;

    // Sync
    const args = syncCommand(poetry, selection, inputs.syncArgs);
    record.syncCommand = `poetry ${args.join(' ')}`;
    if (restored.kind === 'exact') {
      record.syncSkipped = `exact ${restored.from} hit: the venv was verified for this lock, selection and interpreter`;
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
    });
    record.problems = problems;
    if (problems.length > 0) {
      // Never cache an environment that failed verification.
      record.save = { saved: false, reason: 'verification failed' };
      throw new ActionError(problems.join(' | '), 'torch verification failed', project.pyprojectPath);
    }

    // Save: the post step saves a snapshot of what was just verified.
    const save = planSave({ places, restore: restored, venv, workspace, key: keys.primary, cacheTimeoutMs: CACHE_TIMEOUT_MS });
    record.save = save.cache;
    record.storeSave = save.store;
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
