// The seed project locked by real Poetry against the real torch 2.14.1 CUDA build's
// metadata and the real nvidia-* / cuda-toolkit / triton metadata from PyPI, replayed
// offline from e2e/fixtures/pypi-cuda13.json.gz (pypi-record.mjs). No wheel body is
// needed to lock: the index serves pages, hashes and METADATA only.
//
//   node e2e/harness/cuda-lock.mjs record   re-record the fixture from PyPI (network)
//   node e2e/harness/cuda-lock.mjs lock DIR lock a seed copy in DIR from the fixture
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPackageIndex } from './package-index.mjs';
import { ensurePoetry, poetryEnv } from './poetry.mjs';
import { makeSeedProject } from './project.mjs';
import { emptyRecording, loadRecording, recordingUpstream, replayUpstream, saveRecording } from './pypi-record.mjs';
import { DEFAULT_CACHE_ROOT, PYTHON, REPO_ROOT, ensureWheels, runOk, withDirLock } from './wheels.mjs';

export const CUDA_FIXTURE = path.join(REPO_ROOT, 'e2e', 'fixtures', 'pypi-cuda13.json.gz');

/**
 * The local index with the recorded PyPI slice behind it. cudaWheelsDir: real wheel
 * bodies to serve as well (a local file replaces the recorded entry of the same name).
 */
export async function startCudaIndex({ cacheRoot = DEFAULT_CACHE_ROOT, cudaWheelsDir, recording } = {}) {
  const wheels = await ensureWheels(cacheRoot);
  const rec = recording ?? (await loadRecording(CUDA_FIXTURE));
  const upstream = { ...replayUpstream(rec), fingerprint: `pypi-cuda13:${(await fs.stat(CUDA_FIXTURE)).size}` };
  return startPackageIndex({ wheelsDir: wheels.dir, cudaWheelsDir, upstream });
}

/** Copies the seed to `dir` and locks it against `index` with Poetry; returns makeSeedProject's result. */
export async function lockCudaSeed(dir, { index, cacheRoot = DEFAULT_CACHE_ROOT, variant, env } = {}) {
  const poetry = await ensurePoetry(undefined, cacheRoot);
  // Its own Poetry cache: the CUDA torch test double's 2.14.1+cu130 in the shared one would stand in for the real one.
  const lockEnv = env ?? poetryEnv({ cacheRoot, cacheDir: path.join(cacheRoot, 'poetry-cache-cuda-metadata') });
  return makeSeedProject(dir, { index, poetry, variant, cacheRoot, env: lockEnv });
}

/**
 * The real wheel bodies `lockText` pins for Linux x86_64 / CPython 3.11 that the CPU set lacks,
 * gathered once by pip into <cacheRoot>/cuda13-wheels (this machine's pip store first, PyPI for
 * the rest; ~3 GB), torch relabelled 2.14.1+cu130 as download.pytorch.org names it
 * (bench/relabel-wheel.py). Returns the directory, for startCudaIndex's cudaWheelsDir.
 */
export async function ensureCudaWheelBodies(lockText, cacheRoot = DEFAULT_CACHE_ROOT) {
  const dir = path.join(cacheRoot, 'cuda13-wheels');
  const base = new Set((await fs.readdir((await ensureWheels(cacheRoot)).dir)).map((f) => f.split('-')[0].toLowerCase().replace(/_/g, '-')));
  const pins = [...lockText.matchAll(/^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"/gm)]
    .map(([, name, version]) => [name, version])
    .filter(([name, version]) => (name === 'torch' ? version.endsWith('+cu130') : !base.has(name)))
    .map(([name, version]) => (name === 'torch' ? `torch==${version.split('+')[0]}` : `${name}==${version}`))
    .sort();
  const marker = path.join(dir, '.complete.json');
  const want = JSON.stringify(pins);
  if ((await fs.readFile(marker, 'utf8').catch(() => null)) === want) return dir;
  await withDirLock(`${dir}.lock`, async () => {
    if ((await fs.readFile(marker, 'utf8').catch(() => null)) === want) return;
    await fs.mkdir(dir, { recursive: true });
    const download = path.join(dir, 'download');
    await runOk(PYTHON, ['-m', 'pip', 'download', '--disable-pip-version-check', '-q', '--no-deps', '--only-binary=:all:', '-d', download, ...pins], {
      timeoutMs: 60 * 60_000,
    });
    for (const name of await fs.readdir(download)) {
      if (/^torch-[^+]+-cp/.test(name)) {
        await runOk(PYTHON, [path.join(REPO_ROOT, 'bench', 'relabel-wheel.py'), path.join(download, name), 'cu130', dir], { timeoutMs: 30 * 60_000 });
        await fs.rm(path.join(download, name));
      } else await fs.rename(path.join(download, name), path.join(dir, name));
    }
    await fs.rm(download, { recursive: true, force: true });
    await fs.writeFile(marker, want);
  });
  return dir;
}

async function record() {
  const recording = emptyRecording();
  const index = await startPackageIndex({
    wheelsDir: (await ensureWheels()).dir,
    upstream: { ...recordingUpstream(recording), fingerprint: randomUUID() },
  });
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'spt-record-'));
  try {
    const poetry = await ensurePoetry();
    // A fresh Poetry cache, so every page and METADATA Poetry needs passes through the recorder.
    const env = poetryEnv({ cacheDir: path.join(scratch, 'poetry-cache') });
    const started = Date.now();
    await makeSeedProject(path.join(scratch, 'seed'), { index, poetry, env });
    console.log(`locked in ${Date.now() - started} ms`);
    await fs.mkdir(path.dirname(CUDA_FIXTURE), { recursive: true });
    await saveRecording(CUDA_FIXTURE, recording);
    const pages = Object.values(recording.projects).reduce((n, ps) => n + Object.keys(ps).length, 0);
    console.log(`${CUDA_FIXTURE}: ${pages} pages, ${Object.keys(recording.metadata).length} METADATA files`);
    await fs.copyFile(path.join(scratch, 'seed', 'poetry.lock'), path.join(scratch, 'recorded.lock'));
    console.log(await fs.readFile(path.join(scratch, 'recorded.lock'), 'utf8'));
  } finally {
    await index.close();
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, dir] = process.argv.slice(2);
  if (command === 'record') await record();
  else if (command === 'lock' && dir) {
    const index = await startCudaIndex();
    try {
      const started = Date.now();
      const r = await lockCudaSeed(path.resolve(dir), { index });
      console.log(`${r.lockFile} (${r.lockCached ? 'cached' : `locked in ${Date.now() - started} ms`})`);
    } finally {
      await index.close();
    }
  } else if (command === 'bodies' && dir) {
    const started = Date.now();
    console.log(`${await ensureCudaWheelBodies(await fs.readFile(path.resolve(dir, 'poetry.lock'), 'utf8'))} in ${Date.now() - started} ms`);
  } else {
    console.error('usage: cuda-lock.mjs record | lock <dir> | bodies <dir with poetry.lock>');
    process.exit(2);
  }
}
