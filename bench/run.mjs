// `npm run bench [-- options]`: time to a verified torch environment, the bundled action against
// the alternatives and the physical floor, all measured in this one run on this machine
// (medians of --runs each; runs are interleaved so drift hits every row alike).
//
//   --runs N        repetitions per row (default 3; at least 3 for a claim)
//   --rows a,b      subset of: cold, warm, store, partial, matrix, artifact, floor, overhead (default: all)
//   --smoke         --runs 1 --rows cold,warm,floor: proves the harness works, claims nothing
//   --cuda          cold, warm and floor with the real CUDA torch 2.14.1 (several GB; opt-in)
//   --dist DIR      bundle to measure (default dist/), e.g. an older build for an A/B
//   --out FILE      also write the report (markdown) to FILE
//   --json FILE     also write every raw measurement to FILE
//
// Rows (seed example; cpu mode with the real torch 2.13.0+cpu wheel unless --cuda):
//   cold      the action with an empty cache and an empty POETRY_CACHE_DIR: miss, sync, verify, save
//   warm      the action again on the same lock after the venv is gone: exact hit from the cache, verify
//   store     the same, with the venv store the cold run published to (a self-hosted runner's next job)
//   matrix    a cpu/cuda matrix, both cells warm, in sequence: the action's keys against one venv
//             cache keyed by the lock alone (setup-python's key), which restores the other cell's venv and syncs
//   partial   the action on the 'plus-one-package' lock: partial restore, sync, verify, save
//   artifact  the alternative: @actions/cache restore of POETRY_CACHE_DIR, `poetry sync`, same probe
//   floor     the archive the cache service holds, extracted with tar+zstd, then `import torch`
//   overhead  the action with cache: false on a synced venv, minus a bare `poetry sync` and a bare probe
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { REPO_ROOT, startStage } from '../e2e/harness/stage.mjs';
import { DEFAULT_CACHE_ROOT, PYTHON, ensureWheels, runOk } from '../e2e/harness/wheels.mjs';

const ALL_ROWS = ['cold', 'warm', 'store', 'partial', 'matrix', 'lockonly', 'artifact', 'floor', 'overhead'];
const ROW_TITLES = {
  cold: 'cold (no cache)',
  warm: 'warm exact (cache)',
  store: 'warm exact (venv store)',
  matrix: 'matrix cpu+cuda, both warm (action keys)',
  lockonly: 'matrix cpu+cuda, both warm (lock-only key)',
  partial: 'warm partial (+1 package)',
  artifact: 'artifact-cache alternative',
  floor: 'floor (tar+zstd extract + import torch)',
  overhead: 'overhead (action - bare sync - bare probe)',
};
const ARTIFACT_KEY = 'bench-poetry-artifacts';
const NODE24 = path.join(REPO_ROOT, 'node_modules', '.bin', 'node');
const PRELOAD = pathToFileURL(path.join(REPO_ROOT, 'bench', 'preload.mjs')).href;

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string' },
    rows: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    cuda: { type: 'boolean', default: false },
    dist: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'string' },
  },
});
const runs = Number(opts.runs ?? (opts.smoke || opts.cuda ? 1 : 3));
const rows = (opts.rows ?? (opts.smoke || opts.cuda ? 'cold,warm,store,floor' : ALL_ROWS.join(',')))
  .split(',')
  .map((r) => r.trim())
  .flatMap((r) => (r === 'matrix' ? ['matrix', 'lockonly'] : [r]));
for (const row of rows) if (!ALL_ROWS.includes(row)) throw new Error(`unknown row ${row}; rows: ${ALL_ROWS.join(', ')}`);
if (opts.cuda && rows.some((r) => !['cold', 'warm', 'store', 'floor', 'matrix', 'lockonly'].includes(r)))
  throw new Error('--cuda measures cold, warm, store, matrix and floor only');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
const want = (row) => rows.includes(row);

const log = (line) => process.stderr.write(`[bench] ${line}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const sec = (ms) => (ms / 1000).toFixed(2);
const mib = (bytes) => (bytes / 2 ** 20).toFixed(0);

/** Dirty pages of the previous step are written back before the next timed one starts. */
const settle = () => spawnSync('sync');

let trashDir;
let trashSeq = 0;
/**
 * Deleting a 700 MB tree makes the next large extraction here 2-3x slower for a while (measured:
 * tar after `rm -rf` 4.0-6.7 s, after `mv` 1.2-3.1 s). A runner starts on a fresh disk, so
 * nothing is deleted between timed steps: trees are moved aside and removed at the end of each
 * round (keeping them all ran a 3-round --cuda bench out of 63 GB of disk), before the cold run,
 * whose first extraction comes a sync later.
 */
async function discard(dir) {
  if (!existsSync(dir)) return;
  await fs.rename(dir, path.join(trashDir, String(++trashSeq)));
}

function machine() {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const version = (file, args) => {
    const r = spawnSync(file, args, { encoding: 'utf8' });
    return (r.stdout || r.stderr || '?').trim().split('\n')[0];
  };
  return {
    cpu,
    nproc: os.availableParallelism(),
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: version(NODE24, ['--version']),
    python: version(PYTHON, ['--version']),
    tar: version('tar', ['--version']),
    zstd: version('zstd', ['--version']).replace(/^\W+|\W+$|,? by .*$/g, ''),
    tmpFs: spawnSync('df', ['-T', os.tmpdir()], { encoding: 'utf8' }).stdout.trim().split('\n').pop()?.split(/\s+/)[1] ?? '?',
    pythonDontWriteBytecode: process.env.PYTHONDONTWRITEBYTECODE ?? '',
  };
}

/** Time per stage of one action run, from the spawn trace that bench/preload.mjs records. */
function breakdown(procs, wallMs) {
  const main = procs.find((p) => p.role === 'main');
  const parts = {};
  let children = 0;
  for (const s of main?.spawns ?? []) {
    if (s.endMs === undefined) continue;
    const ms = s.endMs - s.startMs;
    let name;
    if (s.worker) name = `cache ${s.worker}`;
    else if (/probe\.py torch/.test(s.cmd)) name = 'verify (probe torch)';
    else if (/probe\.py interpreter/.test(s.cmd)) name = 'interpreter checks';
    else if (/(^|\/)poetry sync/.test(s.cmd)) name = 'poetry sync';
    else if (/(^|\/)poetry /.test(s.cmd)) name = `poetry ${s.cmd.split(' ')[1]}`;
    else name = 'other programs';
    parts[name] = (parts[name] ?? 0) + ms;
    children += ms;
  }
  parts['action itself (node start, detect, summary)'] = wallMs - children;
  // Inside the cache worker: its tar, and what came before it (restore: the download to a
  // temporary archive) or after it (save: the upload).
  for (const worker of procs.filter((p) => p.role.startsWith('worker:'))) {
    const tar = worker.spawns.find((s) => /(^|\/)tar /.test(s.cmd) && s.endMs !== undefined);
    if (!tar) continue;
    if (worker.role === 'worker:restore') {
      parts['(restore: worker start + download)'] = tar.startMs;
      parts['(restore: tar+zstd extract)'] = tar.endMs - tar.startMs;
    } else {
      parts['(save: tar+zstd archive)'] = tar.endMs - tar.startMs;
      parts['(save: upload)'] = worker.wallMs - tar.endMs;
    }
  }
  return parts;
}

async function readProcs(file) {
  if (!existsSync(file)) return [];
  return (await fs.readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

async function main() {
  const started = Date.now();
  const loadBefore = os.loadavg()[0];
  const cudaWheelsDir = opts.cuda ? await ensureRealCudaWheels() : undefined;
  log(`starting the stage${opts.cuda ? ' (real CUDA torch index)' : ''}`);
  // Poetry caches release metadata by name and version per source: the CUDA test double's
  // torch 2.14.1+cu130 in the shared cache would stand in for the real one, so CUDA gets its own.
  const stage = await startStage(opts.cuda ? { cudaWheelsDir, poetryCacheDir: path.join(DEFAULT_CACHE_ROOT, 'poetry-cache-cuda-real') } : {});
  let probeSeq = 0;
  try {
    // The bundle is copied: a concurrent `npm run bundle` (it empties dist/) must not hit a run.
    const dist = path.join(stage.scratch, 'dist');
    const source = path.resolve(opts.dist ?? path.join(REPO_ROOT, 'dist'));
    for (let waited = 0; !['index.js', 'probe.py'].every((f) => existsSync(path.join(source, f))); waited += 1000) {
      if (waited > 120_000) throw new Error(`${source} has no bundle: run npm run bundle`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    await fs.cp(source, dist, { recursive: true });
    const entry = path.join(dist, 'index.js');
    const probe = path.join(dist, 'probe.py');
    const inputs = opts.cuda ? { mode: 'cuda', 'expect-cuda': 'false' } : { mode: 'cpu' };
    const syncArgs = opts.cuda
      ? ['sync', '--no-interaction', '--no-ansi', '--extras=cuda', '--with=cuda']
      : ['sync', '--no-interaction', '--no-ansi', '--extras=cpu'];
    const timeoutMs = opts.cuda ? 60 * 60_000 : 15 * 60_000;
    const env = (extra = {}) => ({ ...stage.baseEnv, ...extra });

    const data = {
      rows: Object.fromEntries(rows.map((r) => [r, []])),
      parts: {},
      saveMs: [],
      restoreMs: [],
      archiveBytes: [],
      venvBytes: [],
      peakKiB: {},
      extra: {},
    };
    const note = (row, ms, parts) => {
      data.rows[row]?.push(ms);
      if (parts) (data.parts[row] ??= []).push(parts);
    };

    // The main step is timed; its post step (the save) runs after it, as on a runner, untimed.
    async function action(workspace, actionInputs, extraEnv = {}, { toolCache } = {}) {
      const probeFile = path.join(stage.scratch, `procs-${++probeSeq}.jsonl`);
      const result = await stage.run(workspace, actionInputs, {
        env: { NODE_OPTIONS: `--import=${PRELOAD}`, BENCH_PROBE_FILE: probeFile, BENCH_TRACE: '1', ...extraEnv },
        entry,
        timeoutMs,
        toolCache,
      });
      if (result.exitCode !== 0) throw new Error(`the action failed (${result.exitCode}):\n${result.log.slice(-4000)}`);
      const procs = await readProcs(probeFile);
      for (const p of procs) data.peakKiB[p.role] = Math.max(data.peakKiB[p.role] ?? 0, p.vmHwmKiB);
      const worker = (op) => procs.find((p) => p.role === 'main')?.spawns.find((s) => s.worker === op);
      const span = (s) => (s?.endMs !== undefined ? s.endMs - s.startMs : undefined);
      const parts = breakdown(procs, result.durationMs);
      // Untimed in the row, shown beside it: what the job pays after its other steps.
      if (result.post && !result.post.skipped && result.post.durationMs !== undefined) parts['(post step, after the job)'] = result.post.durationMs;
      return { ms: result.durationMs, result, parts, saveMs: span(worker('save')), restoreMs: span(worker('restore')) };
    }

    trashDir = path.join(stage.scratch, 'trash');
    await fs.mkdir(trashDir);
    const rmVenv = (workspace) => discard(path.join(workspace, '.venv'));
    const venvBytes = (workspace) => Number(spawnSync('du', ['-sb', path.join(workspace, '.venv')], { encoding: 'utf8' }).stdout.split(/\s/)[0]);

    // The artifact alternative's cache entry: Poetry's cache after one sync, saved once.
    const artifactDir = path.join(stage.scratch, 'poetry-artifact-cache');
    const artifactEnv = { ...stage.cache.env, RUNNER_TEMP: path.join(stage.scratch, 'artifact-temp'), GITHUB_WORKSPACE: stage.scratch };
    if (want('artifact')) {
      log('artifact alternative: filling and saving a Poetry cache (untimed)');
      const ws = await stage.workspace('seed', 'artifact-setup');
      await runOk(stage.poetry.poetry, syncArgs, { cwd: ws, env: env({ POETRY_CACHE_DIR: artifactDir }) });
      await fs.mkdir(artifactEnv.RUNNER_TEMP, { recursive: true });
      await runOk(NODE24, [path.join(REPO_ROOT, 'bench', 'artifact-cache.mjs'), 'save', artifactDir, ARTIFACT_KEY], {
        cwd: stage.scratch,
        env: env(artifactEnv),
      });
      data.extra.artifactArchiveBytes = stage.cache.entries().find((e) => e.key === ARTIFACT_KEY)?.sizeBytes;
      await discard(ws);
    }
    const plusOne = want('partial') ? await stage.workspace('plus-one-package', 'plus-one-lock') : undefined;

    for (let i = 0; i < runs; i++) {
      log(`round ${i + 1} of ${runs}`);
      // cold: nothing cached for this lock, and Poetry's own cache empty as well.
      await stage.cache.deleteEntries(({ key }) => key !== ARTIFACT_KEY);
      const ws = await stage.workspace('seed', `round${i}`);
      const poetryCache = await fs.mkdtemp(path.join(stage.scratch, 'poetry-cache-'));
      // The runner's tool cache for this round: the cold run publishes to its venv store.
      const roundTools = await fs.mkdtemp(path.join(stage.scratch, 'tools-'));
      settle();
      const cold = await action(ws, inputs, { POETRY_CACHE_DIR: poetryCache }, { toolCache: roundTools });
      if (cold.result.outputs['cache-hit'] !== 'false' || !/Cache restore \| miss/.test(cold.result.summary)) throw new Error('cold run was not a miss');
      if (want('cold')) note('cold', cold.ms, cold.parts);
      // The step minus its own venv creation, sync and verification: what the action adds to a cold job.
      const own = Object.entries(cold.parts)
        .filter(([name]) => /^poetry (env|sync)|^verify/.test(name))
        .reduce((sum, [, ms]) => sum + ms, 0);
      (data.extra.coldRest ??= []).push(cold.ms - own);
      if (cold.saveMs !== undefined) data.saveMs.push(cold.saveMs);
      const saved = stage.cache.entries().find((e) => e.key === cold.result.outputs['cache-key']);
      if (!saved) throw new Error(`cold run saved nothing:\n${cold.result.log.slice(-3000)}`);
      data.archiveBytes.push(saved.sizeBytes);
      data.venvBytes.push(venvBytes(ws));
      await discard(poetryCache);
      log(`  cold ${sec(cold.ms)} s`);

      if (want('warm') || want('partial') || want('overhead')) {
        await rmVenv(ws);
        settle();
        const warm = await action(ws, { ...inputs, 'venv-store': 'false' });
        if (warm.result.outputs['cache-hit'] !== 'true') throw new Error(`warm run was not an exact hit:\n${warm.result.log.slice(-3000)}`);
        if (want('warm')) note('warm', warm.ms, warm.parts);
        if (warm.restoreMs !== undefined) data.restoreMs.push(warm.restoreMs);
        log(`  warm exact ${sec(warm.ms)} s`);
      }

      if (want('store')) {
        await rmVenv(ws);
        settle();
        const warmStore = await action(ws, inputs, {}, { toolCache: roundTools });
        if (warmStore.result.outputs['restored-from'] !== 'store')
          throw new Error(`store run did not link from the store:\n${warmStore.result.log.slice(-3000)}`);
        note('store', warmStore.ms, warmStore.parts);
        log(`  warm exact (store) ${sec(warmStore.ms)} s`);
      }

      if (want('matrix')) {
        // A failed matrix round is reported and skipped: the other rows of the round still count.
        await matrixRows(ws, i).catch((error) => log(`  matrix round failed: ${error.message.split('\n').slice(0, 3).join(' ')}`));
      }

      if (want('floor')) {
        const dir = await fs.mkdtemp(path.join(stage.scratch, 'floor-'));
        settle();
        const extract = await runOk('tar', ['--use-compress-program=zstd', '-xf', saved.file, '-P', '-C', dir]);
        const imported = await runOk(path.join(dir, '.venv', 'bin', 'python'), ['-c', 'import torch']);
        note('floor', extract.ms + imported.ms, { 'tar+zstd extract': extract.ms, 'import torch': imported.ms });
        await discard(dir);
        log(`  floor ${sec(extract.ms + imported.ms)} s`);
      }

      if (want('partial')) {
        for (const file of ['pyproject.toml', 'poetry.lock']) await fs.copyFile(path.join(plusOne, file), path.join(ws, file));
        await rmVenv(ws);
        settle();
        const partial = await action(ws, { ...inputs, 'venv-store': 'false' });
        if (partial.result.outputs['cache-matched-key'] !== saved.key || partial.result.outputs['cache-hit'] !== 'false')
          throw new Error('partial run was not a partial hit');
        note('partial', partial.ms, partial.parts);
        log(`  warm partial ${sec(partial.ms)} s`);
      }

      if (want('overhead')) {
        settle();
        const full = await action(ws, { ...inputs, cache: 'false', 'venv-store': 'false' });
        settle();
        const bareSync = await runOk(stage.poetry.poetry, syncArgs, { cwd: ws, env: env() });
        settle();
        const bareProbe = await runOk(path.join(ws, '.venv', 'bin', 'python'), [probe, 'torch']);
        note('overhead', full.ms - bareSync.ms - bareProbe.ms, {
          'action, cache: false': full.ms,
          // The same difference from the action's own spawn trace: immune to the bare runs' noise.
          'action minus its own sync and probe': full.ms - (full.parts['poetry sync'] ?? 0) - (full.parts['verify (probe torch)'] ?? 0),
          'bare poetry sync': bareSync.ms,
          'bare probe': bareProbe.ms,
        });
        log(`  overhead ${sec(full.ms - bareSync.ms - bareProbe.ms)} s`);
      }
      await discard(ws);

      if (want('artifact')) {
        const alt = await stage.workspace('seed', `artifact${i}`);
        await discard(artifactDir);
        settle();
        const restored = await runOk(NODE24, [path.join(REPO_ROOT, 'bench', 'artifact-cache.mjs'), 'restore', artifactDir, ARTIFACT_KEY], {
          cwd: stage.scratch,
          env: env(artifactEnv),
        });
        const synced = await runOk(stage.poetry.poetry, syncArgs, { cwd: alt, env: env({ POETRY_CACHE_DIR: artifactDir }) });
        if (/Downloading/i.test(synced.stdout)) log('  warning: the artifact alternative downloaded something');
        const verified = await runOk(path.join(alt, '.venv', 'bin', 'python'), [probe, 'torch']);
        const total = restored.ms + synced.ms + verified.ms;
        note('artifact', total, { 'restore Poetry cache': restored.ms, 'poetry sync': synced.ms, 'verify (probe torch)': verified.ms });
        await discard(alt);
        log(`  artifact alternative ${sec(total)} s`);
      }
      await fs.rm(trashDir, { recursive: true, force: true });
      await fs.rm(roundTools, { recursive: true, force: true });
      await fs.mkdir(trashDir);
      settle();
    }

    /**
     * Both cells of a cpu/cuda matrix, warm, one after the other (the cuda cell: the CUDA build
     * with expect-cuda false; in cpu mode the CUDA torch test double). The action keys each
     * cell's venv by mode; a lock-only key (setup-python's) holds one venv for both, so each
     * cell restores it and syncs to its own torch. The cache only (no store) in both schemes.
     */
    async function matrixRows(ws, round) {
      const cells = [
        { inputs: { mode: 'cpu', 'venv-store': 'false' }, sync: ['sync', '--no-interaction', '--no-ansi', '--extras=cpu'] },
        {
          inputs: { mode: 'cuda', 'expect-cuda': 'false', 'venv-store': 'false' },
          sync: ['sync', '--no-interaction', '--no-ansi', '--extras=cuda', '--with=cuda'],
        },
      ];
      // Poetry's shared cache may hold another build of the CUDA test double under the same
      // name (its checksum then fails the lock): the matrix gets a cache of its own.
      const matrixCache = await fs.mkdtemp(path.join(stage.scratch, 'poetry-cache-matrix-'));
      const own = { POETRY_CACHE_DIR: matrixCache };
      // Untimed: each cell's first run saves its venv (or finds the one the cold run saved).
      for (const cell of cells) {
        await rmVenv(ws);
        await action(ws, cell.inputs, own);
      }
      let ours = 0;
      for (const cell of cells) {
        await rmVenv(ws);
        settle();
        const run = await action(ws, cell.inputs, own);
        if (run.result.outputs['cache-hit'] !== 'true') throw new Error(`matrix cell ${cell.inputs.mode} was not warm`);
        ours += run.ms;
      }
      note('matrix', ours);
      log(`  matrix, action keys ${sec(ours)} s`);

      // The lock-only scheme: one entry per lock, saved by whichever cell ran first (cpu).
      const key = `bench-lock-only-${round}-${createHash('sha256')
        .update(await fs.readFile(path.join(ws, 'poetry.lock')))
        .digest('hex')
        .slice(0, 16)}`;
      const cacheEnv = env({ ...stage.cache.env, GITHUB_WORKSPACE: ws, RUNNER_TEMP: path.join(stage.scratch, 'artifact-temp') });
      await fs.mkdir(cacheEnv.RUNNER_TEMP, { recursive: true });
      const cacheCall = (op) => runOk(NODE24, [path.join(REPO_ROOT, 'bench', 'artifact-cache.mjs'), op, '.venv', key], { cwd: ws, env: cacheEnv });
      await rmVenv(ws);
      await runOk(stage.poetry.poetry, cells[0].sync, { cwd: ws, env: env(own) });
      await cacheCall('save');
      let lockOnly = 0;
      for (const cell of cells) {
        await rmVenv(ws);
        settle();
        const restored = await cacheCall('restore');
        const synced = await runOk(stage.poetry.poetry, cell.sync, { cwd: ws, env: env(own) });
        const verified = await runOk(path.join(ws, '.venv', 'bin', 'python'), [probe, 'torch']);
        // An exact hit on the primary key: setup-python's post step saves nothing.
        lockOnly += restored.ms + synced.ms + verified.ms;
      }
      note('lockonly', lockOnly);
      log(`  matrix, lock-only key ${sec(lockOnly)} s`);
      // Back to the seed venv for the rows that follow.
      await rmVenv(ws);
      await action(ws, cells[opts.cuda ? 1 : 0].inputs, own);
      await discard(matrixCache);
    }

    const report = render(data, {
      machine: machine(),
      runs,
      elapsedMs: Date.now() - started,
      load: [loadBefore, os.loadavg()[0]],
      cuda: opts.cuda,
      dist: opts.dist ?? 'dist/',
    });
    process.stdout.write(report);
    if (opts.out) await fs.writeFile(opts.out, report);
    if (opts.json) await fs.writeFile(opts.json, `${JSON.stringify(data, null, 2)}\n`);
  } finally {
    await stage.close();
  }
}

function render(data, { machine: m, runs: n, elapsedMs, load, cuda, dist }) {
  const lines = [];
  const med = (row) => (data.rows[row]?.length ? median(data.rows[row]) : undefined);
  lines.push(`## setup-poetry-torch benchmark (${cuda ? 'cuda mode, real torch 2.14.1 CUDA build' : 'cpu mode, real torch 2.13.0+cpu'}; bundle ${dist})`, '');
  lines.push(
    `Machine: ${m.cpu}, ${m.nproc} CPUs, ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, tmp on ${m.tmpFs}; ${m.node}, ${m.python}, ${m.tar}, ${m.zstd}; PYTHONDONTWRITEBYTECODE=${m.pythonDontWriteBytecode || '(unset)'}.`,
  );
  lines.push(
    `Medians of ${n} run(s) per row, rounds interleaved; whole bench ${sec(elapsedMs)} s; 1-min load average ${load[0].toFixed(1)} at the start, ${load[1].toFixed(1)} at the end.${n < 3 ? ' Fewer than 3 runs: figures show the harness works, they are not a claim.' : ''}`,
    '',
  );
  lines.push('| row | median s | runs s | where the time goes (medians, s) |', '|---|---|---|---|');
  for (const row of ALL_ROWS) {
    if (!data.rows[row]?.length) continue;
    const parts = data.parts[row] ?? [];
    const names = [...new Set(parts.flatMap((p) => Object.keys(p)))];
    const where = names.map((name) => `${name} ${sec(median(parts.map((p) => p[name] ?? 0)))}`).join('; ');
    lines.push(`| ${ROW_TITLES[row]} | ${sec(med(row))} | ${data.rows[row].map(sec).join(', ')} | ${where} |`);
  }
  lines.push('');

  const figures = [];
  if (data.archiveBytes.length)
    figures.push(`venv archive (zstd, as stored by the cache service): ${mib(median(data.archiveBytes))} MiB from a ${mib(median(data.venvBytes))} MiB venv`);
  if (data.saveMs.length) figures.push(`save added to the cold run (cache worker, tar+zstd+upload): ${sec(median(data.saveMs))} s`);
  if (data.restoreMs.length) figures.push(`restore in the warm run (cache worker, download+extract): ${sec(median(data.restoreMs))} s`);
  if (data.extra.artifactArchiveBytes)
    figures.push(
      `Poetry cache archive for the alternative: ${mib(data.extra.artifactArchiveBytes)} MiB (real @actions/cache save/restore of POETRY_CACHE_DIR under Node 24, same cache stand-in)`,
    );
  for (const [role, kib] of Object.entries(data.peakKiB).sort()) {
    figures.push(
      `peak RSS (VmHWM) of ${role === 'main' ? "the action's own node process" : `the cache worker (${role.split(':')[1]})`}: ${(kib / 1024).toFixed(0)} MiB`,
    );
  }
  lines.push(...figures.map((f) => `- ${f}`), '');

  const ratio = (a, b) => (a !== undefined && b !== undefined ? a / b : undefined);
  const coldRest = data.extra.coldRest?.length ? median(data.extra.coldRest) : undefined;
  const targets = [
    ['store warm exact vs cache warm exact', ratio(med('warm'), med('store')), (r) => `${r.toFixed(2)}x faster`, '>= 4x faster', (r) => r >= 4],
    ['cold step vs cold sync + verify', want('cold') ? coldRest : undefined, (ms) => `+${sec(ms)} s`, '<= 1.5 s', (ms) => ms <= 1500],
    ['matrix warm vs lock-only key', ratio(med('lockonly'), med('matrix')), (r) => `${r.toFixed(2)}x faster`, '>= 3x faster', (r) => r >= 3],
    ['warm exact vs floor', ratio(med('warm'), med('floor')), (r) => `${r.toFixed(2)}x the floor`, '<= 1.3x the floor', (r) => r <= 1.3],
    ['warm exact vs artifact-cache alternative', ratio(med('artifact'), med('warm')), (r) => `${r.toFixed(2)}x faster`, '>= 2x faster', (r) => r >= 2],
    ['overhead', med('overhead'), (ms) => `${sec(ms)} s`, '< 0.5 s', (ms) => ms < 500],
  ];
  lines.push('| target | measured | goal | result |', '|---|---|---|---|');
  for (const [name, value, show, goal, pass] of targets) {
    if (value === undefined) continue;
    lines.push(`| ${name} | ${show(value)} | ${goal} | ${pass(value) ? 'PASS' : 'FAIL'} |`);
  }
  // What a store hit cannot skip: every job still checks its interpreter and verifies torch.
  const restore = data.restoreMs.length ? median(data.restoreMs) : undefined;
  const storeBound = med('warm') !== undefined && restore !== undefined ? ratio(med('warm'), med('warm') - restore) : undefined;
  if (storeBound !== undefined && med('store') !== undefined)
    lines.push(
      '',
      `Bound for the store: cache warm exact / (cache warm exact minus its restore) = ${storeBound.toFixed(2)}x, the most any store can gain over the cache here while every job still verifies; the store row reaches ${((ratio(med('warm'), med('store')) / storeBound) * 100).toFixed(0)}% of it.`,
    );
  const bound = ratio(med('cold'), med('floor'));
  // Not targets: a local index makes cold cheap here, so these ratios measure the machine, not the action.
  if (bound !== undefined) {
    lines.push('', `Bound: cold / floor = ${bound.toFixed(2)}x, the most any venv-restoring warm path can gain over cold on this machine.`);
    const shown = [
      ['warm exact (cache) vs cold', ratio(med('cold'), med('warm'))],
      ['warm partial vs cold', ratio(med('cold'), med('partial'))],
    ].filter(([, r]) => r !== undefined);
    if (shown.length) lines.push(`For reference, within that bound: ${shown.map(([name, r]) => `${name} ${r.toFixed(2)}x`).join('; ')}.`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * torch 2.14.1 (PyPI's CUDA 13.0 build) and its nvidia-*, cuda-*, triton wheels, gathered once into
 * .cache/cuda-torch-real by pip (this machine's local stores first, PyPI for the rest; several GB).
 * Wheels the CPU set already has are dropped so each file is served once, and torch is relabelled
 * 2.14.1+cu130, the name download.pytorch.org/whl/cu130 gives the same build (bench/relabel-wheel.py).
 */
async function ensureRealCudaWheels() {
  const dir = path.join(DEFAULT_CACHE_ROOT, 'cuda-torch-real');
  const marker = path.join(dir, '.complete');
  if (!existsSync(marker)) {
    log(`gathering the CUDA torch wheels into ${dir} (pip download; several GB)`);
    await fs.mkdir(dir, { recursive: true });
    await runOk(PYTHON, ['-m', 'pip', 'download', '--disable-pip-version-check', '-q', '--only-binary=:all:', '-d', dir, 'torch==2.14.1'], {
      timeoutMs: 60 * 60_000,
    });
    const base = new Set(await fs.readdir((await ensureWheels()).dir));
    for (const name of await fs.readdir(dir)) if (base.has(name)) await fs.rm(path.join(dir, name));
    await fs.writeFile(marker, 'torch==2.14.1\n');
  }
  for (const name of await fs.readdir(dir)) {
    if (!/^torch-2\.14\.1-.*\.whl$/.test(name)) continue;
    log(`relabelling ${name} as +cu130 (once)`);
    await runOk(PYTHON, [path.join(REPO_ROOT, 'bench', 'relabel-wheel.py'), path.join(dir, name), 'cu130', dir], { timeoutMs: 30 * 60_000 });
    await fs.rm(path.join(dir, name));
  }
  return dir;
}

await main();
