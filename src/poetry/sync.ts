import * as path from 'node:path';
import { ActionError } from '../errors.js';
import { lastLines, type CommandResult, type RunCommand } from '../exec.js';
import { compareVersions } from '../version.js';
import { sourcesOnHost, type Selection } from '../project.js';
import type { Poetry } from './install.js';

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
