// The throwaway action that proves e2e/harness/{cache-server,runner}.mjs against the real
// @actions/cache (e2e/harness-*.test.mjs), and the helpers those suites share.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCacheServer } from './cache-server.mjs';
import { runAction } from './runner.mjs';

const repoRoot = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const node24 = join(repoRoot, 'node_modules', '.bin', 'node');
export const nodeBin = existsSync(node24) ? node24 : process.execPath;
const cacheUrl = import.meta.resolve('@actions/cache');
const coreUrl = import.meta.resolve('@actions/core');

// The throwaway action: one cache operation per step plus every file/stdout
// command the runner simulator has to parse back.
const ACTION_SOURCE = `
import * as cache from ${JSON.stringify(cacheUrl)};
import * as core from ${JSON.stringify(coreUrl)};
const lines = (s) => s.split('\\n').map((l) => l.trim()).filter(Boolean);
const op = core.getInput('op', { required: true });
const paths = lines(core.getInput('paths') || 'data');
const key = core.getInput('key');
const restoreKeys = lines(core.getInput('restore-keys'));
core.startGroup('cache ' + op);
try {
  if (op === 'save') {
    const id = await cache.saveCache(paths, key);
    core.setOutput('result', String(id));
  } else if (op === 'restore') {
    const matched = await cache.restoreCache(paths, key, restoreKeys);
    core.setOutput('result', matched ?? '');
  } else if (op === 'env') {
    core.setOutput('seen', process.env.HARNESS_EXPORTED ?? '');
    core.setOutput('path0', process.env.PATH.split(':')[0]);
  }
} catch (err) {
  core.setOutput('error-name', err.name);
  core.setFailed(op + ' threw ' + err.name + ': ' + err.message);
} finally {
  core.endGroup();
}
core.setOutput('multi', 'first line\\nsecond = line\\n<<not a delimiter');
core.exportVariable('HARNESS_EXPORTED', 'from ' + op);
core.addPath('/opt/harness/' + op + '/bin');
core.saveState('last-op', op);
await core.summary.addHeading('Harness ' + op).addRaw('key=' + key, true).write();
core.warning('odd chars: 100% done\\nnext line, a:b', { file: 'src/a,b.ts', title: 'T: x', startLine: 3 });
`;

/** The throwaway action's folder (a live binding: set by the `before` hook of useThrowawayAction). */
export let actionDir;

/** Writes the throwaway action before the suite's tests and removes it after them. */
export function useThrowawayAction() {
  before(async () => {
    actionDir = await mkdtemp(join(tmpdir(), 'harness-action-'));
    await mkdir(join(actionDir, 'dist'));
    await writeFile(join(actionDir, 'action.yml'), 'name: harness\nruns:\n  using: node24\n  main: dist/index.js\n');
    await writeFile(join(actionDir, 'dist', 'index.js'), ACTION_SOURCE);
    await writeFile(join(actionDir, 'dist', 'package.json'), '{"type":"module"}');
  });
  after(async () => {
    await rm(actionDir, { recursive: true, force: true });
  });
}

export async function makeWorkspace(files = { 'data/a.txt': 'alpha\n', 'data/sub/b.bin': Buffer.from([0, 1, 2, 255]), 'data/sub/deep/c.txt': 'gamma' }) {
  const ws = await mkdtemp(join(tmpdir(), 'harness-ws-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(ws, rel)), { recursive: true });
    await writeFile(join(ws, rel), content);
  }
  return ws;
}

export async function snapshot(dir) {
  const out = {};
  async function walk(d, rel) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(d, e.name), r);
      else
        out[r] = createHash('sha256')
          .update(await readFile(join(d, e.name)))
          .digest('hex');
    }
  }
  await walk(dir, '');
  return out;
}

export function step(server, workspace, inputs, env = {}) {
  return runAction({ actionDir, workspace, inputs, env: { ...server.env, ...env }, nodeBin, timeoutMs: 120000 });
}

export const twirp = (server, method) => server.requests.filter((r) => r.twirpMethod === method);
export const warnings = (r) => r.annotations.filter((a) => a.level === 'warning' && !a.message.startsWith('odd chars'));

/** Runs body(server, ws) with a cache server and a workspace of its own, and removes both afterwards. */
export async function withCacheServer(body, files) {
  const server = await startCacheServer();
  const ws = await makeWorkspace(files);
  try {
    return await body(server, ws);
  } finally {
    await server.close();
    await rm(ws, { recursive: true, force: true });
  }
}
