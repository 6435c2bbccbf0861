// Real projects' layouts (issue 10): each pyproject.toml under e2e/fixtures/layouts/ comes from a
// public repository (see its README.md for the source and what was changed), is locked by real
// Poetry against the local index, and the bundled action runs on it in cpu mode, and on some in
// cuda mode with expect-cuda: false (the cu130 route serves the CUDA torch test double).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPoetry } from './harness/poetry.mjs';
import { runOk } from './harness/wheels.mjs';
import { REPO_ROOT, startStage } from './harness/stage.mjs';

const FIXTURES = path.join(REPO_ROOT, 'e2e', 'fixtures', 'layouts');
const CPU = '2.13.0+cpu';
const CUDA = '2.14.1+cu130';

// name, PyPI stand-in ('simple': no torch; 'cu130': the CUDA torch, as PyPI's Linux torch is a CUDA build),
// then per mode: the torch it installs, the sync flags, and the layout line; or the error it stops with.
const PROJECTS = [
  // torch is listed in [tool.poetry.extras], so Poetry adds `extra == "cpu" or extra == "cuda"` to its markers: plain sync installs none.
  {
    name: 'nep-lms',
    cpu: [CPU, '--extras=cpu'],
    cuda: [CUDA, '--extras=cuda'],
    layout: /^Layout: extras: cpu: --extras cpu -> torch 2\.13\.0\+cpu from pytorch-cpu; cuda: --extras cuda -> torch 2\.14\.1\+cu130 from pytorch-cuda$/m,
  },
  {
    name: 'axolotl-memory',
    cpu: [CPU, ''],
    cuda: /pins no CUDA build of torch .*only torch 2\.13\.0\+cpu from pytorch-cpu-src/,
    layout: /^Layout: single build: torch 2\.13\.0\+cpu from pytorch-cpu-src$/m,
  },
  {
    name: 'gnn-final-project',
    pypi: 'cu130',
    cpu: [CUDA, '', /cpu mode installs that build/],
    cuda: [CUDA, ''],
    layout: /^Layout: single build: torch 2\.14\.1\+cu130 from pypi-local$/m,
  },
  { name: 'imd3011-datacentric-ai', cpu: [CPU, '--extras=cpu'], cuda: [CUDA, '--extras=cuda --with=cuda'], layout: /^Layout: extras \+ group: /m },
  { name: 'imd1107-nlp', cpu: [CPU, '--extras=cpu'], layout: /^Layout: extras \+ group: /m },
  {
    name: 'datacentric-ai-course',
    cpu: [CUDA, '', /pins only a CUDA build of torch/],
    layout: /^Layout: single build: torch 2\.14\.1\+cu130 from torch$/m,
  },
  { name: 'docling-binary', pypi: 'cu130', cpu: [CPU, ''], layout: /^Layout: single build: torch 2\.13\.0\+cpu from pytorch-cpu$/m },
  {
    name: 'deep-studio',
    pypi: 'cu130',
    cpu: /installs no torch on this runner .*sys_platform == 'win32'.*sys_platform == 'darwin'/,
    layout: /^Layout: no torch here$/m,
  },
  { name: 'torch-lab', pypi: 'cu130', cpu: [CPU, ''], layout: /^Layout: single build: /m },
  { name: 'hands-on-llms-streaming', cpu: [CUDA, '', /pins only a CUDA build/], layout: /^Layout: single build: torch 2\.14\.1\+cu130 from torch$/m },
  { name: 'hands-on-llms-training', cpu: [CUDA, '', /pins only a CUDA build/], layout: /^Layout: single build: /m },
  { name: 'poetry-docs-pep621-extras', cpu: [CPU, ''], cuda: [CUDA, '--extras=cuda'], layout: /^Layout: extras: /m },
];

let stage;
let poetryCache;
/** A venv per torch build already synced once: the next project starts from a hard-linked copy (see seedVenv). */
const synced = new Map();
const passed = new Set();
before(async () => {
  // A Poetry cache for this file: its release-info cache is per source name, and the index port changes per run.
  poetryCache = await fs.mkdtemp(path.join(os.tmpdir(), 'layouts-poetry-cache-'));
  stage = await startStage({ poetryCacheDir: poetryCache });
});
after(async () => {
  await stage?.close();
  await fs.rm(poetryCache, { recursive: true, force: true });
  console.log(`layouts: ${PROJECTS.length} real projects, ${passed.size} passed`);
});

/** The fixture with its URLs on the local index (the only change made at run time). */
function localise(text, pypi) {
  const strip = (url) => url.replace(/\/+$/, '');
  const stand = strip(pypi === 'cu130' ? stage.index.cudaUrl : stage.index.pypiUrl);
  let out = text
    .replaceAll('https://download.pytorch.org/whl/cpu', strip(stage.index.cpuUrl))
    .replaceAll('https://download.pytorch.org/whl/cu130', strip(stage.index.cudaUrl))
    .replace(/https:\/\/pypi\.org\/simple\/?/g, stand);
  if (!text.includes('https://pypi.org/simple')) out += `\n[[tool.poetry.source]]\nname = "pypi-local"\nurl = "${stand}"\npriority = "primary"\n`;
  return out;
}

async function lockedWorkspace(project) {
  const dir = path.join(stage.scratch, `layout-${project.name}`);
  await fs.mkdir(dir, { recursive: true });
  const text = await fs.readFile(path.join(FIXTURES, project.name, 'pyproject.toml'), 'utf8');
  await fs.writeFile(path.join(dir, 'pyproject.toml'), localise(text, project.pypi));
  const locked = await runPoetry(stage.poetry, ['lock'], { cwd: dir, env: stage.baseEnv });
  assert.equal(locked.code, 0, `poetry lock failed for ${project.name}: ${locked.stdout}\n${locked.stderr}`);
  await fs.rm(path.join(dir, '.venv'), { recursive: true, force: true });
  return dir;
}

const errorsOf = (result) => result.annotations.filter((a) => a.level === 'error');

/**
 * Unpacking torch is most of a sync's time (~30 s here per project); a project whose lock pins the
 * build a previous one installed starts from a hard-linked copy of that venv, as a self-hosted
 * runner's persistent workspace would. `poetry sync` still decides: a wrong selection would
 * remove or replace torch, and the verification reads what is there afterwards.
 */
async function seedVenv(dir, version) {
  const from = synced.get(version);
  await fs.rm(path.join(dir, '.venv'), { recursive: true, force: true });
  if (from) await runOk('cp', ['-al', from, path.join(dir, '.venv')]);
}

async function check(project, dir, mode, want) {
  if (!(want instanceof RegExp)) await seedVenv(dir, want[0]);
  // No cache service: saving each venv would double the time, and caching is e2e/action.test.mjs's subject.
  const result = await stage.run(dir, { mode, 'expect-cuda': 'false' }, { useCache: false });
  assert.match(result.log, project.layout);
  if (want instanceof RegExp) {
    assert.equal(result.exitCode, 1, result.log);
    const [error] = errorsOf(result);
    assert.match(error.message, want);
    assert.doesNotMatch(result.log, /Sync: poetry sync/, 'the error comes before any sync');
    return;
  }
  const [version, flags, notice] = want;
  assert.equal(result.exitCode, 0, result.log);
  assert.equal(result.outputs['torch-version'], version);
  assert.equal(result.outputs['torch-cuda-version'], version.includes('+cu') ? '13.0' : '');
  assert.equal(result.outputs['cuda-available'], 'false');
  assert.equal(result.outputs.mode, mode);
  assert.match(result.log, new RegExp(`poetry sync --no-interaction --no-ansi${flags ? ` ${flags}` : ''}(\\n|$)`, 'm'));
  if (notice)
    assert.ok(
      result.annotations.some((a) => a.level === 'notice' && notice.test(a.message)),
      result.log,
    );
  assert.match(result.summary, /\| Layout \| /);
  if (!synced.has(version)) {
    const keep = path.join(stage.scratch, `venv-${version}`);
    await runOk('cp', ['-al', path.join(dir, '.venv'), keep]);
    synced.set(version, keep);
  }
}

describe('real projects', () => {
  for (const project of PROJECTS) {
    test(project.name, async () => {
      const dir = await lockedWorkspace(project);
      await check(project, dir, 'cpu', project.cpu);
      if (project.cuda) await check(project, dir, 'cuda', project.cuda);
      passed.add(project.name);
    });
  }
});
