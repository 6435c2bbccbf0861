// Runs a bundled JavaScript action the way GitHub's runner does for one step:
// `node <main>` with cwd = workspace, INPUT_* variables, fresh file-command
// files, and the workflow commands on stdout parsed back out. Plain ESM so it
// runs on Node 20 and 24.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter as PATH_DELIMITER, join } from 'node:path';

const RUNNER_OS = { linux: 'Linux', darwin: 'macOS', win32: 'Windows' };
const RUNNER_ARCH = { x64: 'X64', arm64: 'ARM64', arm: 'ARM', ia32: 'X86' };
// Inherited values of these would leak the outer CI job (or a developer's
// shell) into the step; NODE_TEST_CONTEXT would make a child node:test think
// it reports to our test runner.
const SCRUBBED = /^(INPUT_|GITHUB_|ACTIONS_|RUNNER_|STATE_)|^NODE_TEST_CONTEXT$/i;

/** INPUT_<NAME> as the runner spells it: spaces to '_', upper-cased, hyphens kept. */
export function inputEnvName(name) {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

/**
 * Parses a GITHUB_OUTPUT / GITHUB_ENV / GITHUB_STATE file: `name=value` and
 * `name<<DELIM` ... `DELIM` records, in order; later records win.
 */
export function parseKeyValueFile(text) {
  const out = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    const eq = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    if (eq > 0 && (heredoc < 0 || eq < heredoc)) {
      out[line.slice(0, eq)] = line.slice(eq + 1);
      continue;
    }
    if (heredoc <= 0) throw new Error(`Invalid file-command line: ${JSON.stringify(line)}`);
    const name = line.slice(0, heredoc);
    const delim = line.slice(heredoc + 2);
    const value = [];
    for (i++; i < lines.length && lines[i] !== delim; i++) value.push(lines[i]);
    if (i >= lines.length) throw new Error(`Missing heredoc delimiter ${delim} for ${name}`);
    out[name] = value.join('\n');
  }
  return out;
}

const unescapeData = (s) => s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
const unescapeProperty = (s) => s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%25/g, '%');

/** Parses `::command k=v,k2=v2::message` lines from a step's stdout. */
export function parseWorkflowCommands(stdout) {
  const commands = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^::([A-Za-z][\w-]*)(?: ([^:]*))?::(.*)$/.exec(line);
    if (!m) continue;
    const properties = {};
    for (const pair of (m[2] ?? '').split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) properties[pair.slice(0, eq)] = unescapeProperty(pair.slice(eq + 1));
    }
    commands.push({ command: m[1], properties, message: unescapeData(m[3]) });
  }
  return commands;
}

// Kill functions of steps still running, so an aborted test run leaves no orphans.
const live = new Set();
process.once('exit', () => {
  for (const kill of live) kill();
});

function hermeticEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUBBED.test(k)) env[k] = v;
  return env;
}

/**
 * Runs one step of a JavaScript action.
 * `state` (optional, { name: value }) is passed as STATE_<name>, the way the
 * runner hands the main step's saveState values to the post step.
 */
export async function runAction({ actionDir, entry, workspace, inputs = {}, env = {}, nodeBin, timeoutMs = 600000, runnerTemp, toolCache, state = {} } = {}) {
  if (!workspace) throw new Error('runAction: workspace is required');
  const main = entry ?? join(actionDir, 'dist', 'index.js');
  const node =
    nodeBin ?? (actionDir && existsSync(join(actionDir, 'node_modules', '.bin', 'node')) ? join(actionDir, 'node_modules', '.bin', 'node') : process.execPath);

  const ownTemp = !runnerTemp;
  const temp = runnerTemp ?? (await mkdtemp(join(tmpdir(), 'runner-temp-')));
  const ownToolCache = !toolCache;
  const tools = toolCache ?? (await mkdtemp(join(tmpdir(), 'runner-tools-')));
  const commandDir = join(temp, '_runner_file_commands');
  await mkdir(commandDir, { recursive: true });
  const id = randomUUID();
  const files = {
    GITHUB_OUTPUT: join(commandDir, `set_output_${id}`),
    GITHUB_ENV: join(commandDir, `set_env_${id}`),
    GITHUB_PATH: join(commandDir, `add_path_${id}`),
    GITHUB_STATE: join(commandDir, `save_state_${id}`),
    GITHUB_STEP_SUMMARY: join(commandDir, `step_summary_${id}`),
  };
  for (const f of Object.values(files)) await writeFile(f, '');

  const childEnv = {
    ...hermeticEnv(),
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: 'example/project',
    GITHUB_REPOSITORY_OWNER: 'example',
    GITHUB_REF: 'refs/heads/main',
    GITHUB_REF_NAME: 'main',
    GITHUB_REF_TYPE: 'branch',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_EVENT_NAME: 'push',
    GITHUB_WORKFLOW: 'CI',
    GITHUB_JOB: 'test',
    GITHUB_RUN_ID: '1',
    GITHUB_RUN_NUMBER: '1',
    GITHUB_RUN_ATTEMPT: '1',
    GITHUB_ACTOR: 'example',
    GITHUB_ACTION: 'setup',
    // GITHUB_SERVER_URL stays unset: a non-github.com value makes @actions/cache fall back to v1.
    RUNNER_OS: RUNNER_OS[process.platform] ?? process.platform,
    RUNNER_ARCH: RUNNER_ARCH[process.arch] ?? process.arch.toUpperCase(),
    RUNNER_NAME: 'harness',
    RUNNER_ENVIRONMENT: 'self-hosted',
    RUNNER_TEMP: temp,
    RUNNER_TOOL_CACHE: tools,
    ...files,
  };
  for (const [name, value] of Object.entries(inputs)) childEnv[inputEnvName(name)] = String(value);
  for (const [name, value] of Object.entries(state)) childEnv[`STATE_${name}`] = String(value);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === null) delete childEnv[name];
    else childEnv[name] = String(value);
  }

  const started = Date.now();
  // Own process group (POSIX) so a timeout also kills whatever the action spawned.
  const groupKill = process.platform !== 'win32';
  const child = spawn(node, [main], { cwd: workspace, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: groupKill });
  const kill = () => {
    try {
      if (groupKill) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
  };
  if (child.pid) live.add(kill);
  const stdoutChunks = [];
  const stderrChunks = [];
  child.stdout.on('data', (c) => stdoutChunks.push(c));
  child.stderr.on('data', (c) => stderrChunks.push(c));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  const { code, signal } = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c, s) => {
      // A leftover grandchild can hold the pipes open; don't wait on it for long.
      const grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code: c, signal: s });
      }, 2000);
      child.once('close', () => {
        clearTimeout(grace);
        resolve({ code: c, signal: s });
      });
    });
  }).finally(() => {
    clearTimeout(timer);
    live.delete(kill);
  });
  const durationMs = Date.now() - started;

  const stdout = Buffer.concat(stdoutChunks).toString('utf8');
  const stderr = Buffer.concat(stderrChunks).toString('utf8');
  const read = (f) => readFile(f, 'utf8');
  const outputs = parseKeyValueFile(await read(files.GITHUB_OUTPUT));
  const exportedEnv = parseKeyValueFile(await read(files.GITHUB_ENV));
  const path = (await read(files.GITHUB_PATH)).split(/\r?\n/).filter((l) => l !== '');
  const savedState = parseKeyValueFile(await read(files.GITHUB_STATE));
  const summary = await read(files.GITHUB_STEP_SUMMARY);
  const commands = parseWorkflowCommands(stdout);

  if (ownTemp) await rm(temp, { recursive: true, force: true });
  if (ownToolCache) await rm(tools, { recursive: true, force: true });

  return {
    // A killed step has no exit code; the runner fails it, so report non-zero.
    exitCode: code ?? 1,
    signal,
    timedOut,
    stdout,
    stderr,
    durationMs,
    outputs,
    exportedEnv,
    path,
    state: savedState,
    summary,
    annotations: commands
      .filter((c) => c.command === 'error' || c.command === 'warning' || c.command === 'notice')
      .map((c) => ({ level: c.command, message: c.message, properties: c.properties })),
    groups: commands.filter((c) => c.command === 'group').map((c) => c.message),
    masks: commands.filter((c) => c.command === 'add-mask').map((c) => c.message),
    debug: commands.filter((c) => c.command === 'debug').map((c) => c.message),
    // What the job log shows without step debugging: stdout minus ::debug:: lines.
    log: stdout
      .split(/\r?\n/)
      .filter((l) => !l.startsWith('::debug::'))
      .join('\n'),
    commands,
  };
}

/**
 * Env for a later step of the same job: GITHUB_ENV values applied and
 * GITHUB_PATH entries prepended (the last added first, as the runner does).
 * `results` may be one runAction result or an array of them, in step order.
 */
export function applyExportedEnv(baseEnv, results) {
  const env = { ...baseEnv };
  const prepend = [];
  for (const r of [results].flat()) {
    Object.assign(env, r.exportedEnv);
    for (const p of r.path) {
      const at = prepend.indexOf(p);
      if (at >= 0) prepend.splice(at, 1);
      prepend.push(p);
    }
  }
  const pathKey = Object.keys(env).find((k) => k.toUpperCase() === 'PATH') ?? 'PATH';
  const existing = env[pathKey] ? [env[pathKey]] : [];
  env[pathKey] = [...prepend.reverse(), ...existing].join(PATH_DELIMITER);
  return env;
}

/** `runs.post` and `runs.post-if` of an action.yml (the two plain scalars this harness needs). */
export async function readPostStep(actionDir) {
  const text = await readFile(join(actionDir, 'action.yml'), 'utf8');
  const runs = text.slice(text.search(/^runs:/m));
  const field = (name) => new RegExp(`^\\s+${name}:\\s*['"]?([^'"\\n]+?)['"]?\\s*$`, 'm').exec(runs)?.[1];
  const post = field('post');
  return post ? { entry: join(actionDir, post), postIf: field('post-if') ?? 'always()' } : undefined;
}

/** The runner's status functions over one job status ('success' | 'failure' | 'cancelled'). */
export function evaluatePostIf(condition, jobStatus) {
  const known = { 'success()': jobStatus === 'success', 'failure()': jobStatus === 'failure', 'always()': true, 'cancelled()': jobStatus === 'cancelled' };
  if (!(condition in known)) throw new Error(`post-if ${JSON.stringify(condition)}: the harness knows only ${Object.keys(known).join(', ')}`);
  return known[condition];
}

/**
 * One job as the runner runs it: the main step, then `laterSteps` (the workflow's next steps,
 * an async callback given the main step's result and the job's env), then the post step with the
 * main step's saved state as STATE_* variables, if post-if allows it. RUNNER_TEMP and the tool
 * cache live for the whole job. The result is the main step's, with `post` (the post step's
 * result, or { skipped: true }) and the job's summary, annotations and log, main then post.
 */
export async function runJob({ laterSteps, jobStatus, ...options }) {
  const ownTemp = !options.runnerTemp;
  const runnerTemp = options.runnerTemp ?? (await mkdtemp(join(tmpdir(), 'runner-temp-')));
  const ownToolCache = !options.toolCache;
  const toolCache = options.toolCache ?? (await mkdtemp(join(tmpdir(), 'runner-tools-')));
  try {
    const main = await runAction({ ...options, runnerTemp, toolCache });
    let status = jobStatus ?? (main.exitCode === 0 ? 'success' : 'failure');
    if (laterSteps && status === 'success') {
      try {
        await laterSteps(main, applyExportedEnv(options.env ?? {}, main));
      } catch (error) {
        main.laterStepsError = error;
        status = 'failure';
      }
    }
    const step = options.actionDir ? await readPostStep(options.actionDir) : undefined;
    // A post step that runs the main bundle runs the same copy when the caller named one (bench, faults).
    const postEntry = step && options.entry && step.entry === join(options.actionDir, 'dist', 'index.js') ? options.entry : step?.entry;
    const post =
      step && evaluatePostIf(step.postIf, status)
        ? await runAction({ ...options, entry: postEntry, runnerTemp, toolCache, state: main.state, env: applyExportedEnv(options.env ?? {}, main) })
        : { skipped: true };
    const both = post.skipped ? [main] : [main, post];
    return {
      ...main,
      main,
      post,
      summary: both.map((r) => r.summary).join(''),
      annotations: both.flatMap((r) => r.annotations),
      groups: both.flatMap((r) => r.groups),
      debug: both.flatMap((r) => r.debug),
      log: both.map((r) => r.log).join('\n'),
      stdout: both.map((r) => r.stdout).join('\n'),
    };
  } finally {
    if (ownTemp) await rm(runnerTemp, { recursive: true, force: true });
    if (ownToolCache) await rm(toolCache, { recursive: true, force: true });
  }
}
