import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionError } from './errors.js';
import { lastLines, type CommandResult, type RunCommand } from './exec.js';
import { MIN_POETRY } from './constants.js';
import { compareVersions } from './version.js';
import { sourcesOnHost, type Selection } from './project.js';
import { venvPython } from './python.js';

export interface Poetry {
  /** Program to run: 'poetry' from PATH or the path of the one the action installed. */
  command: string;
  version: string;
  installedByAction: boolean;
  /** Folder to add to PATH so later steps find the installed Poetry. */
  binDir?: string;
}

/** `Poetry (version 2.1.3)`, `Poetry version 1.8.5`, dev builds `2.5.0.dev0`. */
export function parsePoetryVersion(text: string): string | undefined {
  return /version\s+(\d+\.\d+(?:\.\d+)?(?:[.\w-]*)?)/i.exec(text)?.[1]?.replace(/[)\s]+$/, '');
}

/** Environment for every Poetry call: non-interactive, no keyring prompts, in-project venv unless the project chose otherwise. */
export function poetryEnvironment(version: string, base: NodeJS.ProcessEnv, inProject: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, POETRY_NO_INTERACTION: '1' };
  // A locked desktop keyring makes Poetry hang on CI machines; no source here needs credentials from it.
  env.PYTHON_KEYRING_BACKEND ??= 'keyring.backends.null.Keyring';
  if (inProject) env.POETRY_VIRTUALENVS_IN_PROJECT = 'true';
  // Exclusive extras resolve correctly only without re-resolving at install time: the default from 2.3.
  if (compareVersions(version, '2.0.0') >= 0 && compareVersions(version, '2.3.0') < 0) env.POETRY_INSTALLER_RE_RESOLVE = 'false';
  return env;
}

/** `quick`: trust the console script's metadata instead of starting Poetry (see poetryScriptVersion). */
async function poetryVersionOf(run: RunCommand, command: string, quick = true): Promise<string | undefined> {
  const fromScript =
    quick && process.platform !== 'win32' ? poetryScriptVersion(command.includes('/') ? command : findOnPath(command, process.env)) : undefined;
  if (fromScript) return fromScript;
  const result = await run(command, ['--version', '--no-ansi'], { timeoutMs: 60_000 });
  return result.exitCode === 0 ? parsePoetryVersion(result.stdout) : undefined;
}

/** The file spawn would run for a bare command name (POSIX PATH search). */
export function findOnPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The version of the Poetry that a pip-made `poetry` console script (pipx, the official
 * installer, a venv) runs, read from the poetry dist-info beside the interpreter its shebang
 * names: `poetry --version` costs 0.4-1 s of start-up on every run. Undefined for anything
 * else (a shim, a wrapper, a broken venv): then Poetry itself is asked.
 */
export function poetryScriptVersion(script: string | undefined): string | undefined {
  if (!script) return undefined;
  try {
    const fd = fs.openSync(script, 'r');
    const head = Buffer.alloc(2048);
    const length = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const text = head.subarray(0, length).toString('utf8');
    if (!/^from poetry\.console\.application import main$/m.test(text)) return undefined;
    // pip writes `#!<python>`, or for a long or spaced path a /bin/sh line that execs it.
    const python = /^'''exec' "?([^"]+?)"? "\$0" "\$@"$/m.exec(text)?.[1] ?? /^#!(\/\S+)\s*\n/.exec(text)?.[1];
    if (!python || !fs.existsSync(python)) return undefined;
    // Only a venv has one site-packages that is surely this interpreter's.
    const venv = path.dirname(path.dirname(python));
    if (!fs.existsSync(path.join(venv, 'pyvenv.cfg'))) return undefined;
    const found = new Set<string>();
    for (const lib of ['lib', 'lib64']) {
      const libDir = path.join(venv, lib);
      if (!fs.existsSync(libDir)) continue;
      for (const pythonDir of fs.readdirSync(libDir).filter((name) => /^python3/.test(name))) {
        const site = path.join(libDir, pythonDir, 'site-packages');
        if (!fs.existsSync(site)) continue;
        for (const name of fs.readdirSync(site)) if (/^poetry-[^-]+\.dist-info$/.test(name)) found.add(fs.realpathSync(path.join(site, name)));
      }
    }
    if (found.size !== 1) return undefined;
    return /^Version:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join([...found][0], 'METADATA'), 'utf8'))?.[1];
  } catch {
    // unreadable: ask Poetry
  }
  return undefined;
}

/**
 * Poetry from PATH, else a pinned one installed into the tool cache (pipx when present,
 * else a venv of its own), so a runner without Poetry works with no extra step.
 */
export async function locatePoetry(
  run: RunCommand,
  wanted: string,
  python: string,
  toolDir: string,
  platform: NodeJS.Platform = process.platform,
): Promise<Poetry> {
  const onPath = await poetryVersionOf(run, 'poetry');
  let poetry: Poetry;
  if (onPath) poetry = { command: 'poetry', version: onPath, installedByAction: false };
  else poetry = await installPoetry(run, wanted, python, path.join(toolDir, 'poetry', wanted), platform);
  if (compareVersions(poetry.version, MIN_POETRY) < 0) {
    throw new ActionError(
      `Poetry ${poetry.version} is too old: the action needs ${MIN_POETRY} or newer (\`poetry sync\` or \`install --sync\`). Upgrade it, or remove it from PATH so the action installs Poetry ${wanted}.`,
      'Poetry too old',
    );
  }
  return poetry;
}

async function installPoetry(run: RunCommand, version: string, python: string, home: string, platform: NodeJS.Platform): Promise<Poetry> {
  const venv = path.join(home, 'venv');
  const command = path.join(venv, platform === 'win32' ? 'Scripts' : 'bin', platform === 'win32' ? 'poetry.exe' : 'poetry');
  const cached = fs.existsSync(command) ? await poetryVersionOf(run, command) : undefined;
  if (cached === version) return { command, version, installedByAction: true, binDir: exposeOnly(command, path.join(home, 'bin'), platform) };

  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', '--clear', venv]],
    [venvPython(venv, platform), ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', `poetry==${version}`]],
  ];
  for (const [file, args] of steps) {
    const result = await run(file, args, { timeoutMs: 600_000 });
    if (result.exitCode !== 0) {
      throw new ActionError(
        `Installing Poetry ${version} failed (\`${[path.basename(file), ...args.slice(0, 3)].join(' ')}\`): ${lastLines(result)}. Install Poetry before this step (pipx install poetry) or check the poetry-version input.`,
        'Poetry install failed',
      );
    }
  }
  // A fresh install must prove it runs.
  const installed = await poetryVersionOf(run, command, false);
  if (!installed) throw new ActionError(`Poetry ${version} was installed into ${venv} but does not run.`, 'Poetry install failed');
  return { command, version: installed, installedByAction: true, binDir: exposeOnly(command, path.join(home, 'bin'), platform) };
}

/** A PATH folder holding only `poetry`: the venv's own bin/ would also put its python first on PATH. */
function exposeOnly(command: string, binDir: string, platform: NodeJS.Platform): string {
  if (platform === 'win32') return path.dirname(command);
  fs.mkdirSync(binDir, { recursive: true });
  const link = path.join(binDir, 'poetry');
  fs.rmSync(link, { force: true });
  fs.symlinkSync(command, link);
  return binDir;
}

/** The project's own choice wins: poetry.toml or the environment may turn the in-project venv off. */
export function wantsInProjectVenv(projectDir: string, env: NodeJS.ProcessEnv): boolean {
  const fromEnv = env.POETRY_VIRTUALENVS_IN_PROJECT?.toLowerCase();
  if (fromEnv === 'false' || fromEnv === '0') return false;
  const local = path.join(projectDir, 'poetry.toml');
  if (fs.existsSync(local) && /in-project\s*=\s*false/.test(fs.readFileSync(local, 'utf8'))) return false;
  return true;
}

export function syncCommand(poetry: Poetry, selection: Selection, extraArgs: string[]): string[] {
  const verb = compareVersions(poetry.version, '2.0.0') >= 0 ? ['sync'] : ['install', '--sync'];
  return [
    ...verb,
    '--no-interaction',
    '--no-ansi',
    ...selection.extras.map((extra) => `--extras=${extra}`),
    ...selection.groups.map((group) => `--with=${group}`),
    ...extraArgs,
  ];
}

/** Failures worth another try: the index or network, not the project. */
const TRANSIENT = [
  /All attempts to connect to .* failed/i,
  /\b(502|503|504)\b.*(Server Error|Service Unavailable|Bad Gateway|Gateway Time)/i,
  /Connection (reset|aborted|refused)/i,
  /Read timed out/i,
  /IncompleteRead/i,
];

export function isTransient(result: CommandResult): boolean {
  const text = `${result.stderr}\n${result.stdout}`;
  return TRANSIENT.some((pattern) => pattern.test(text));
}

/**
 * Poetry's own words without its traceback: the exception and its message, any
 * "Installing x: Failed" line, and the closing line, on one line.
 */
export function poetryErrorSummary(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.includes('│') && !/^at\s/.test(line) && !/^The following error occurred/.test(line));
  const picked: string[] = [];
  const exception = lines.findIndex((line) => /^[A-Z]\w*(Error|Exception)$/.test(line));
  if (exception >= 0) picked.push(`${lines[exception]}: ${lines[exception + 1] ?? ''}`.trim());
  picked.push(...lines.filter((line) => /: Failed$/.test(line)));
  const last = lines.at(-1);
  if (last && !picked.some((line) => line.includes(last))) picked.push(last);
  const summary = picked.join(' ').replace(/\s+/g, ' ');
  return summary.length > 600 ? `${summary.slice(0, 600)}...` : summary;
}

/** Known Poetry failures, each turned into the fix a person can act on. */
export function explainPoetryFailure(result: CommandResult, projectDir: string): string {
  const text = `${result.stderr}\n${result.stdout}`;
  const own = poetryErrorSummary(text) || lastLines(result, 4);
  if (/pyproject\.toml changed significantly since poetry\.lock/i.test(text))
    return `poetry.lock is stale (pyproject.toml changed since it was locked): run \`poetry lock\` in ${projectDir} and commit poetry.lock.`;
  // Quote Poetry's own line: it may come before output that would crowd it out of `own`.
  const tooNew = /^.*lock file is not compatible with the current version of Poetry.*$/im.exec(text);
  if (tooNew)
    return `poetry.lock was written by a newer Poetry than this one (Poetry said: ${tooNew[0].trim()}): upgrade Poetry on the runner to the version that locked it (or set the poetry-version input, when Poetry is not on PATH).`;
  const extra = /Extra \[([^\]]+)\] is not specified/i.exec(text);
  if (extra) return `Poetry says extra [${extra[1]}] is not specified: declare it in [tool.poetry.extras] or fix the cpu-extras/cuda-extras input.`;
  const group = /Group\(s\) not found: ([^\n(]+)/i.exec(text);
  if (group) return `Poetry says group(s) ${group[1].trim()} not found: declare [tool.poetry.group.${group[1].trim()}] or fix the cuda-groups input.`;
  const host = /All attempts to connect to (\S+) failed\.?/i.exec(text);
  if (host) {
    // Poetry's last lines can be boilerplate here: keep its one useful line, and name the URLs on that host.
    const urls = sourcesOnHost(projectDir, host[1]);
    const said = own.includes(host[0].replace(/\.$/, '')) ? own : `"${host[0]}"`;
    return `The package index ${host[1]} could not be reached (Poetry: ${said}${urls.length ? `; pyproject.toml sources there: ${urls.join(', ')}` : ''}). Check ${urls.length ? 'those URLs' : 'the source URLs in pyproject.toml'} and the runner's network, then re-run.`;
  }
  return own || `exit code ${result.exitCode}`;
}

export interface SyncOutcome {
  attempts: number;
  durationMs: number;
}

export async function syncProject(
  run: RunCommand,
  poetry: Poetry,
  projectDir: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { maxAttempts: number; backoffMs: number; log: (line: string) => void; timeoutMs: number },
): Promise<SyncOutcome> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const result = await run(poetry.command, args, { cwd: projectDir, env, stream: true, timeoutMs: options.timeoutMs });
    if (result.exitCode === 0) return { attempts: attempt, durationMs: Date.now() - started };
    const command = `poetry ${args.join(' ')}`;
    if (result.timedOut)
      throw new ActionError(`\`${command}\` did not finish within ${Math.round(options.timeoutMs / 60000)} min and was stopped.`, 'poetry sync timed out');
    if (result.spawnError) throw new ActionError(`Could not run Poetry (${poetry.command}): ${result.spawnError}.`, 'Poetry not runnable');
    if (attempt < options.maxAttempts && isTransient(result)) {
      const wait = options.backoffMs * attempt;
      options.log(`\`${command}\` failed with a network/index error (try ${attempt} of ${options.maxAttempts}); retrying in ${wait / 1000} s.`);
      await new Promise((resolve) => setTimeout(resolve, wait));
      continue;
    }
    const tries = attempt > 1 ? ` after ${attempt} tries` : '';
    throw new ActionError(
      `\`${command}\` failed${tries}: ${explainPoetryFailure(result, projectDir)}`,
      'poetry sync failed',
      path.join(projectDir, 'pyproject.toml'),
    );
  }
}

/** Makes Poetry create the venv from the interpreter the cache key was built for; returns its path. */
export async function createVenv(run: RunCommand, poetry: Poetry, projectDir: string, env: NodeJS.ProcessEnv, python: string): Promise<string> {
  const use = await run(poetry.command, ['env', 'use', '--no-ansi', python], { cwd: projectDir, env, timeoutMs: 300_000 });
  const info = await run(poetry.command, ['env', 'info', '--path', '--no-ansi'], { cwd: projectDir, env, timeoutMs: 60_000 });
  const venv = info.stdout.trim().split(/\r?\n/).pop();
  if (use.exitCode !== 0 || info.exitCode !== 0 || !venv) {
    throw new ActionError(`\`poetry env use ${python}\` failed: ${explainPoetryFailure(use.exitCode !== 0 ? use : info, projectDir)}`, 'Poetry env failed');
  }
  return venv;
}

/**
 * Where the venv lives. In-project it is `.venv`; elsewhere only Poetry knows the path, so an
 * env that does not exist yet is created to learn it, then removed again for the restore.
 */
export async function locateVenv(
  run: RunCommand,
  poetry: Poetry,
  projectDir: string,
  env: NodeJS.ProcessEnv,
  inProject: boolean,
  python: string,
): Promise<{ path: string; createdToLocate: boolean }> {
  if (inProject) return { path: path.join(projectDir, '.venv'), createdToLocate: false };
  const info = await run(poetry.command, ['env', 'info', '--path', '--no-ansi'], { cwd: projectDir, env, timeoutMs: 60_000 });
  const existing = info.exitCode === 0 ? info.stdout.trim().split(/\r?\n/).pop() : undefined;
  if (existing) return { path: existing, createdToLocate: false };
  return { path: await createVenv(run, poetry, projectDir, env, python), createdToLocate: true };
}
