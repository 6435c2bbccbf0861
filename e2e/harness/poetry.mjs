// A pinned, real Poetry for the e2e tests, installed once into .cache/, plus a
// wheelhouse to test the action's own "pip install poetry" path offline.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CACHE_ROOT, PYTHON, exists, run, runOk, withDirLock } from './wheels.mjs';

// Newest 2.x on PyPI when this was written: what `pipx install poetry` gives
// users today, and already defaults to installer.re-resolve=false, which the
// seed layout's exclusive extras need.
export const POETRY_VERSION = '2.5.1';

/**
 * Install Poetry `version` into <cacheRoot>/poetry-<version> (a venv made with
 * `python3 -m venv` + pip from PyPI). Idempotent; concurrent callers wait for one
 * install. Returns { binDir, poetry, version }.
 */
export async function ensurePoetry(version = POETRY_VERSION, cacheRoot = DEFAULT_CACHE_ROOT) {
  const venv = path.join(cacheRoot, `poetry-${version}`);
  const binDir = path.join(venv, 'bin');
  const poetry = path.join(binDir, 'poetry');
  const marker = path.join(venv, '.complete');
  if (!(await exists(marker))) {
    await withDirLock(`${venv}.lock`, async () => {
      if (await exists(marker)) return;
      // A half-made venv can't be trusted (and venvs can't be moved into place).
      await fs.rm(venv, { recursive: true, force: true });
      await runOk(PYTHON, ['-m', 'venv', venv]);
      await runOk(path.join(binDir, 'python'), ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', `poetry==${version}`]);
      await fs.writeFile(marker, version);
    });
  }
  return { binDir, poetry, version };
}

/**
 * pip-download poetry==<version> and all its dependencies (for this Python and
 * platform) into <cacheRoot>/poetry-wheels-<version>, so a test can run the
 * action's "install Poetry with pip" path with PIP_NO_INDEX=1 PIP_FIND_LINKS=<dir>.
 * Returns { dir, env } where env holds those two variables.
 */
export async function poetryWheelhouse(version = POETRY_VERSION, cacheRoot = DEFAULT_CACHE_ROOT) {
  const dir = path.join(cacheRoot, `poetry-wheels-${version}`);
  const marker = path.join(dir, '.complete');
  if (!(await exists(marker))) {
    await withDirLock(`${dir}.lock`, async () => {
      if (await exists(marker)) return;
      await fs.mkdir(dir, { recursive: true });
      // pip and setuptools too: a fresh venv may want to upgrade/seed them offline.
      await runOk(PYTHON, ['-m', 'pip', 'download', '-q', '--disable-pip-version-check', '-d', dir, `poetry==${version}`, 'pip', 'setuptools', 'wheel']);
      await fs.writeFile(marker, version);
    });
  }
  return { dir, env: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: dir } };
}

/**
 * Environment for running Poetry in tests: its cache shared under .cache/ (so the
 * second lock/sync is quick), the venv in <project>/.venv, no prompts, no keyring.
 * offline: true points HTTP(S) proxies at a closed port, so any request that is
 * not to 127.0.0.1 (e.g. a stray one to pypi.org) fails instead of leaving the box.
 */
export function poetryEnv({ cacheRoot = DEFAULT_CACHE_ROOT, cacheDir, offline = true, extra = {} } = {}) {
  const env = { ...process.env };
  // The host's pip/Poetry settings must not leak in; pass them back via `extra`.
  for (const k of Object.keys(env)) if (k.startsWith('PIP_') || k.startsWith('POETRY_')) delete env[k];
  Object.assign(env, {
    POETRY_CACHE_DIR: cacheDir ?? path.join(cacheRoot, 'poetry-cache'),
    POETRY_VIRTUALENVS_IN_PROJECT: 'true',
    POETRY_NO_INTERACTION: '1',
    // Poetry asks the system keyring for credentials of every source; on a box
    // with no keyring daemon that can hang or spam warnings.
    PYTHON_KEYRING_BACKEND: 'keyring.backends.null.Keyring',
    NO_COLOR: '1',
  });
  if (offline) {
    Object.assign(env, {
      HTTP_PROXY: 'http://127.0.0.1:9',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      http_proxy: 'http://127.0.0.1:9',
      https_proxy: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
    });
  }
  return Object.assign(env, extra);
}

/** Run `poetry <args>` in cwd; resolves { code, stdout, stderr, ms } (never rejects on exit code). */
export function runPoetry(poetry, args, { cwd, env, timeoutMs = 10 * 60_000 } = {}) {
  return run(poetry.poetry ?? poetry, args, { cwd, env: env ?? poetryEnv(), timeoutMs });
}
