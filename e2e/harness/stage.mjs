// One place that sets up what an end-to-end run of the action needs on this machine:
// the wheels, Poetry, the local PyTorch-style index, the cache service stand-in, and
// workspaces holding the seed project. Used by the e2e tests, `npm run demo` and `npm run bench`.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCacheServer } from './cache-server.mjs';
import { startPackageIndex } from './package-index.mjs';
import { ensurePoetry, poetryEnv } from './poetry.mjs';
import { makeSeedProject } from './project.mjs';
import { runAction, runJob } from './runner.mjs';
import { DEFAULT_CACHE_ROOT, REPO_ROOT, buildFakeCudaTorchWheel, ensureWheels } from './wheels.mjs';

export { REPO_ROOT };

/**
 * Starts the index and the cache service and makes sure Poetry and the wheels are here.
 * `poetryCacheDir`: Poetry's own cache; shared by default (one per set of served files) so cold
 * syncs reuse downloaded wheels.
 * `cudaWheelsDir`: wheels for the cu130 route; default: the CUDA torch test double.
 * `upstream`: a recorded PyPI slice behind the index (pypi-record.mjs); with it the cu130 route
 * serves the recorded torch and no test double is built.
 * `indexPort`: a fixed port for the index, so project.mjs's lock cache (keyed on the pyproject,
 * which holds the index URL) is reused across runs; taken, it falls back to any free port.
 */
export async function startStage({ cacheRoot = DEFAULT_CACHE_ROOT, poetryCacheDir, cudaWheelsDir, upstream, indexPort } = {}) {
  const [wheels, poetry] = await Promise.all([ensureWheels(cacheRoot), ensurePoetry(undefined, cacheRoot)]);
  if (!cudaWheelsDir && !upstream) {
    cudaWheelsDir = path.join(cacheRoot, 'cuda-torch-test-double');
    // A stand-in for a CUDA torch build (no 3 GB download, no GPU here): see wheels.mjs.
    await buildFakeCudaTorchWheel(cudaWheelsDir);
  }
  const start = (port) => startPackageIndex({ wheelsDir: wheels.dir, cudaWheelsDir, upstream, port });
  const index = indexPort ? await start(indexPort).catch((e) => (e.code === 'EADDRINUSE' ? start(0) : Promise.reject(e))) : await start(0);
  const cache = await startCacheServer();
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spt-stage-'));
  // Poetry caches a release's hashes per source, name and version, whatever the URL: a served
  // file whose bytes change (a rebuilt test double) must not meet the old hashes, so the
  // default cache belongs to one set of served files.
  poetryCacheDir ??= path.join(cacheRoot, `poetry-cache-${index.fingerprint.slice(0, 12)}`);
  const baseEnv = poetryEnv({ cacheRoot, cacheDir: poetryCacheDir });
  baseEnv.PATH = `${await poetryOnlyBin(poetry, scratch)}${path.delimiter}${baseEnv.PATH}`;
  let counter = 0;

  return {
    index,
    cache,
    poetry,
    baseEnv,
    scratch,
    /** A fresh workspace with the seed project (locked against the local index) at its root. */
    async workspace(variant = 'seed', name = `ws${++counter}`) {
      const dir = path.join(scratch, name);
      // baseEnv: the lock must use the same Poetry cache as the syncs (see poetryCacheDir).
      await makeSeedProject(dir, { index, poetry, variant, cacheRoot, env: baseEnv });
      // `poetry lock` leaves an empty .venv behind; a fresh checkout has none.
      await fs.rm(path.join(dir, '.venv'), { recursive: true, force: true });
      return dir;
    },
    /**
     * Runs the bundled action in `workspace` as a job of one step: the main step, then its post
     * step (the save) as the runner does. `post: false` runs the main step alone; `laterSteps`
     * runs between them (see runJob).
     */
    run(workspace, inputs = {}, { env = {}, useCache = true, post = true, ...options } = {}) {
      return (post ? runJob : runAction)({
        actionDir: REPO_ROOT,
        workspace,
        inputs,
        env: { ...baseEnv, ...(useCache ? cache.env : {}), ...env },
        ...options,
      });
    },
    async close() {
      await Promise.allSettled([index.close(), cache.close()]);
      await fs.rm(scratch, { recursive: true, force: true });
    },
  };
}

/**
 * A PATH entry with nothing but `poetry`, as pipx gives users: Poetry's own venv/bin also
 * holds a python3 that would shadow the runner's interpreter.
 */
async function poetryOnlyBin(poetry, scratch) {
  const bin = path.join(scratch, 'poetry-bin');
  await fs.mkdir(bin, { recursive: true });
  await fs.symlink(poetry.poetry, path.join(bin, 'poetry'));
  return bin;
}

/** Every file under `dir` (skipping `skip` names) with its size and mtime: to prove a run changed nothing else. */
export async function snapshotTree(dir, skip = ['.venv']) {
  const out = {};
  async function walk(current) {
    for (const entry of await fs.readdir(current, { withFileTypes: true })) {
      if (skip.includes(entry.name)) continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else {
        const stat = await fs.lstat(full);
        out[path.relative(dir, full)] = `${stat.size}:${stat.mtimeMs}`;
      }
    }
  }
  await walk(dir);
  return out;
}
