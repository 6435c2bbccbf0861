import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionError } from '../errors.js';
import { lastLines, type RunCommand } from '../exec.js';
import { MIN_POETRY } from '../constants.js';
import { compareVersions } from '../version.js';
import { venvPython } from '../python.js';

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
async function poetryVersionOf(run: RunCommand, command: string, platform: NodeJS.Platform, quick = true): Promise<string | undefined> {
  const fromScript = quick && platform !== 'win32' ? poetryScriptVersion(command.includes('/') ? command : findOnPath(command, process.env)) : undefined;
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
  const onPath = await poetryVersionOf(run, 'poetry', platform);
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
  const cached = fs.existsSync(command) ? await poetryVersionOf(run, command, platform) : undefined;
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
  const installed = await poetryVersionOf(run, command, platform, false);
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
