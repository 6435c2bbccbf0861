// Seed projects for the e2e tests: examples/seed copied, pointed at the local
// index, optionally varied, and locked with real Poetry.
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CACHE_ROOT, REPO_ROOT, exists } from './wheels.mjs';
import { poetryEnv, runPoetry } from './poetry.mjs';

export const SEED_DIR = path.join(REPO_ROOT, 'examples', 'seed');
const CPU_URL = 'https://download.pytorch.org/whl/cpu';
const CUDA_URL = 'https://download.pytorch.org/whl/cu130';

/** Remove a whole TOML table (header line up to the next header) by exact header. */
export function dropTable(text, header) {
  const lines = text.split('\n');
  const out = [];
  let skipping = false;
  for (const line of lines) {
    const h = /^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$/.exec(line);
    if (h) skipping = h[1].trim() === header;
    if (!skipping) out.push(line);
  }
  return out.join('\n');
}

/** Insert `line` right after the `python = ...` line of [tool.poetry.dependencies]. */
export function addMainDependency(text, line) {
  const re = /^(\[tool\.poetry\.dependencies\]\n(?:.*\n)*?python\s*=.*\n)/m;
  if (!re.test(text)) throw new Error('seed pyproject has no [tool.poetry.dependencies] python line');
  return text.replace(re, `$1${line}\n`);
}

/**
 * Project variants: pyproject text in, pyproject text out (URLs already local).
 * Add one by adding a function here, or pass a function as `variant`.
 */
export const VARIANTS = {
  seed: (t) => t,
  // One small extra package in the main group: a one-package lock change.
  'plus-one-package': (t) => addMainDependency(t, 'six = "^1.16"'),
  // The optional cuda group gone: `--with cuda` now fails with "Group(s) not found".
  'no-cuda-group': (t) => dropTable(dropTable(t, 'tool.poetry.group.cuda'), 'tool.poetry.group.cuda.dependencies'),
  // No [tool.poetry.extras]: `--extras=cpu` now fails with "Extra [cpu] is not specified."
  'no-extras': (t) => dropTable(t, 'tool.poetry.extras'),
};

/**
 * The seed pyproject for `index`: both torch sources moved to the local index,
 * plus a primary source for the PyPI stand-in (a primary source switches off
 * Poetry's implicit PyPI, so nothing is fetched from pypi.org).
 */
export function seedPyproject(text, index) {
  const strip = (u) => u.replace(/\/+$/, '');
  if (!text.includes(CPU_URL) || !text.includes(CUDA_URL)) {
    throw new Error(`examples/seed/pyproject.toml must name ${CPU_URL} and ${CUDA_URL}`);
  }
  const out = text.replaceAll(CPU_URL, strip(index.cpuUrl)).replaceAll(CUDA_URL, strip(index.cudaUrl));
  const pypi = `[[tool.poetry.source]]\nname = "pypi-local"\nurl = "${strip(index.pypiUrl)}"\npriority = "primary"\n\n`;
  const at = out.indexOf('[[tool.poetry.source]]');
  return out.slice(0, at) + pypi + out.slice(at);
}

async function copySeed(from, to) {
  await fs.mkdir(to, { recursive: true });
  for (const ent of await fs.readdir(from, { withFileTypes: true })) {
    // A user's local venv / lock / caches in examples/seed must not leak into tests.
    if (['.venv', 'poetry.lock', '__pycache__', '.pytest_cache'].includes(ent.name)) continue;
    const src = path.join(from, ent.name);
    const dst = path.join(to, ent.name);
    if (ent.isDirectory()) await copySeed(src, dst);
    else if (ent.isFile()) await fs.copyFile(src, dst);
  }
}

/**
 * Copy examples/seed to targetDir, point it at `index`, apply `variant` (a name in
 * VARIANTS or a function of the pyproject text), and `poetry lock` it (unless
 * lock: false). Locks are cached under <cacheRoot>/locks keyed on the final
 * pyproject text, the Poetry version and the index's files; the URLs hold the
 * index's port, so a cached lock is reused for the same index (or a fixed `port`).
 * Returns { dir, pyproject, lockFile, lockMs, lockCached }.
 */
export async function makeSeedProject(
  targetDir,
  { index, poetry, variant = 'seed', lock = true, cacheRoot = DEFAULT_CACHE_ROOT, env, seedDir = SEED_DIR } = {},
) {
  if (!index) throw new Error('makeSeedProject: index is required');
  const vary = typeof variant === 'function' ? variant : VARIANTS[variant];
  if (!vary) throw new Error(`makeSeedProject: unknown variant ${variant}`);
  await copySeed(seedDir, targetDir);
  const pyprojectPath = path.join(targetDir, 'pyproject.toml');
  const pyproject = vary(seedPyproject(await fs.readFile(pyprojectPath, 'utf8'), index));
  await fs.writeFile(pyprojectPath, pyproject);
  const lockFile = path.join(targetDir, 'poetry.lock');
  const result = { dir: targetDir, pyproject, lockFile: null, lockMs: 0, lockCached: false };
  if (!lock) return result;
  if (!poetry) throw new Error('makeSeedProject: poetry is required to lock');

  const key = createHash('sha256')
    .update(`${poetry.version}\0${index.fingerprint ?? ''}\0${pyproject}`)
    .digest('hex')
    .slice(0, 32);
  const cached = path.join(cacheRoot, 'locks', `${key}.lock`);
  if (await exists(cached)) {
    await fs.copyFile(cached, lockFile);
    return { ...result, lockFile, lockCached: true };
  }
  const r = await runPoetry(poetry, ['lock'], { cwd: targetDir, env: env ?? poetryEnv({ cacheRoot }) });
  if (r.code !== 0) throw new Error(`poetry lock failed (${r.code}) in ${targetDir}\n${r.stdout}\n${r.stderr}`);
  await fs.mkdir(path.dirname(cached), { recursive: true });
  const tmp = `${cached}.${process.pid}.${randomUUID()}.tmp`;
  await fs.copyFile(lockFile, tmp);
  await fs.rename(tmp, cached);
  return { ...result, lockFile, lockMs: r.ms };
}
