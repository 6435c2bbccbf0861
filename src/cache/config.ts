import * as path from 'node:path';
import { ActionError } from '../errors.js';
import { storeScopes, type Store } from './store.js';

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
