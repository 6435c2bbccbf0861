import * as fs from 'node:fs';
import * as path from 'node:path';
import { ActionError } from '../errors.js';
import { keySegment } from './keys.js';
import type { Store } from './store.js';

export const DEFAULT_STORE_MAX_SIZE = '20G';
const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** `20G`, `500M`, `1.5T`, `10GiB` or plain bytes. */
export function parseSize(input: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value.trim());
  if (!match || Number(match[1]) <= 0) {
    throw new ActionError(`Input '${input}' is ${JSON.stringify(value)}; allowed: a size such as 20G, 500M or 1.5T.`, `Invalid input: ${input}`);
  }
  return Math.floor(Number(match[1]) * UNITS[match[2].toUpperCase()]);
}

/**
 * The store from `venv-store` and `venv-store-max-size`: on by default only on self-hosted
 * runners (a GitHub-hosted runner's disk is gone after the job); `false` turns it off.
 */
export function storeConfig(raw: { dir: string; maxSize: string }, env: NodeJS.ProcessEnv): Store | { off: string } {
  const dir = raw.dir.trim();
  if (dir.toLowerCase() === 'false') return { off: 'venv-store: false' };
  let root = dir;
  if (!root) {
    if (env.RUNNER_ENVIRONMENT !== 'self-hosted') return { off: 'not a self-hosted runner (set venv-store to a directory to use one anyway)' };
    if (!env.RUNNER_TOOL_CACHE) return { off: 'RUNNER_TOOL_CACHE is not set (set venv-store to a directory)' };
    root = path.join(env.RUNNER_TOOL_CACHE, 'setup-poetry-torch');
  } else if (!path.isAbsolute(root)) {
    throw new ActionError(`Input 'venv-store' is ${JSON.stringify(dir)}; allowed: an absolute directory, or false.`, 'Invalid input: venv-store');
  }
  return { root, maxBytes: parseSize('venv-store-max-size', raw.maxSize || DEFAULT_STORE_MAX_SIZE), ...storeScopes(env) };
}

function scopeDir(repository: string, ref: string): string {
  return path.join(keySegment(repository || 'local'), keySegment(ref || 'local'));
}

function defaultBranch(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const event = JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as { repository?: { default_branch?: string } };
    return event.repository?.default_branch || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The GitHub cache's rule: a job reads what its own ref saved, what the default branch saved,
 * and for a pull request what its base branch saved; it writes only under its own ref, so a
 * pull request never writes where the default branch reads.
 */
export function storeScopes(env: NodeJS.ProcessEnv): { readScopes: string[]; writeScope: string } {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const own = scopeDir(repository, env.GITHUB_REF ?? '');
  const reads = [own];
  if (env.GITHUB_BASE_REF) reads.push(scopeDir(repository, `refs/heads/${env.GITHUB_BASE_REF}`));
  const main = defaultBranch(env);
  if (main) reads.push(scopeDir(repository, `refs/heads/${main}`));
  return { readScopes: [...new Set(reads)], writeScope: own };
}
