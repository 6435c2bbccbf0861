import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { annotationRelay, cachePath, restoreRequest, runWorker, saveRequest, workerMain, WORKER_ENV, type CacheLibrary } from '../../src/cache/worker.js';
import { startCacheServer, type CacheServer as Server } from '../fixtures/cache-server.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

describe('annotationRelay', () => {
  it("turns the library's ::error:: lines into warnings, keeps the rest and drops the result line, across chunk boundaries", () => {
    let log = '';
    const relay = annotationRelay((text) => (log += text));
    relay.push('Cache Size: ~1 MB\n::err');
    relay.push('or::Failed to save: 503\n::error title=x::y\nSETUP_POETRY_TORCH_CACHE_RESULT {"cacheId":1}\ntail');
    relay.flush();
    expect(log).toBe('Cache Size: ~1 MB\n::warning::Failed to save: 503\n::warning title=x::y\ntail');
  });

  it('keeps the first "Failed to restore" (unescaped) and notices a reservation refused with 409', () => {
    const relay = annotationRelay(() => {});
    relay.push('::debug::Failed to reserve cache: Error: Failed to CreateCacheEntry: Failed request: (503) Service Unavailable\n');
    expect(relay.reservationTaken()).toBe(false);
    relay.push('::error::Failed to restore: Failed request: (503)%0Aretry later\n::warning::Failed to restore: second\n');
    relay.push('::debug::Failed to reserve cache: Error: Received non-retryable error: Failed request: (409) Conflict\n');
    expect(relay.restoreFailure()).toBe('Failed to restore: Failed request: (503)\nretry later');
    expect(relay.reservationTaken()).toBe(true);
    expect(annotationRelay(() => {}).restoreFailure()).toBeUndefined();
  });
});

describe('runWorker (a real child process)', () => {
  function script(body: string): string {
    const file = path.join(tempDir(), 'worker.mjs');
    fs.writeFileSync(file, body);
    return file;
  }

  it('reads the result line and relays the output with errors as warnings', async () => {
    let log = '';
    const entry = script(
      `console.log('::error::Failed to restore: 500'); console.log('SETUP_POETRY_TORCH_CACHE_RESULT ' + JSON.stringify({ matchedKey: process.env.GITHUB_WORKSPACE }));`,
    );
    const workspace = tempDir();
    const result = await runWorker(restoreRequest('.venv', 'k', [], 5000), { workspace, timeoutMs: 10_000, entry, log: (text) => (log += text) });
    expect(result).toEqual({ matchedKey: workspace });
    expect(log).toBe('::warning::Failed to restore: 500\n');
  });

  it('reports a restore that returned no key after the library logged a failure, and a save refused as taken', async () => {
    const failed = script(`console.log('::error::Failed to restore: 503'); console.log('SETUP_POETRY_TORCH_CACHE_RESULT {}');`);
    expect(await runWorker(restoreRequest('.venv', 'k', [], 5000), { workspace: tempDir(), timeoutMs: 10_000, entry: failed, log: () => {} })).toEqual({
      failure: 'Failed to restore: 503',
    });
    const taken = script(
      `console.log('::debug::Failed to reserve cache: Error: Failed request: (409) Conflict'); console.log('SETUP_POETRY_TORCH_CACHE_RESULT {"cacheId":-1}');`,
    );
    expect(await runWorker(saveRequest('.venv', 'k'), { workspace: tempDir(), timeoutMs: 10_000, entry: taken, log: () => {} })).toEqual({
      cacheId: -1,
      taken: true,
    });
  });

  it('kills a worker that outlives the bound and says so', async () => {
    const entry = script('setInterval(() => {}, 1000);');
    const result = await runWorker(saveRequest('.venv', 'k'), { workspace: tempDir(), timeoutMs: 300, entry, log: () => {} });
    expect(result).toEqual({ error: 'the cache service did not finish within 0 s', timedOut: true });
  });

  it('reports a worker that exits without a result, and a missing worker bundle', async () => {
    const entry = script('process.exit(3);');
    expect(await runWorker(saveRequest('.venv', 'k'), { workspace: tempDir(), timeoutMs: 10_000, entry, log: () => {} })).toEqual({
      error: 'the cache worker exited with code 3 and no result',
    });
    expect((await runWorker(saveRequest('.venv', 'k'), { workspace: tempDir(), timeoutMs: 10_000, entry: '/nonexistent/cache-worker.js' })).error).toMatch(
      /missing/,
    );
  });
});

describe('workerMain (the real @actions/cache against the harness cache service)', () => {
  let server: Server;
  const saved = { ...process.env };
  const cwd = process.cwd();
  beforeAll(async () => {
    server = await startCacheServer();
  });
  afterAll(async () => {
    process.chdir(cwd);
    process.env = saved;
    await server.close();
  });

  async function call(workspace: string, request: object): Promise<Record<string, unknown>> {
    process.env = { ...saved, ...server.env, GITHUB_WORKSPACE: workspace };
    process.chdir(workspace);
    let out = '';
    await workerMain({ [WORKER_ENV]: JSON.stringify(request) }, (text) => (out += text));
    return JSON.parse(out.trim().replace('SETUP_POETRY_TORCH_CACHE_RESULT ', '')) as Record<string, unknown>;
  }

  it('saves, finds the key by a lookup before archiving again, and restores at the relative path', async () => {
    const workspace = tempDir();
    fs.mkdirSync(path.join(workspace, '.venv'));
    fs.writeFileSync(path.join(workspace, '.venv', 'pyvenv.cfg'), 'home = /usr/bin\n');
    const saved1 = await call(workspace, saveRequest('.venv', 'key-1'));
    expect(saved1.cacheId).toEqual(expect.any(Number));
    const creates = (): number => server.requests.filter((r) => r.path.endsWith('CreateCacheEntry')).length;
    const before = creates();
    expect(await call(workspace, saveRequest('.venv', 'key-1'))).toEqual({ exists: true });
    expect(creates()).toBe(before); // no archive, no reservation

    fs.rmSync(path.join(workspace, '.venv'), { recursive: true });
    expect(await call(workspace, restoreRequest('.venv', 'key-1', [], 60_000, true))).toEqual({ matchedKey: 'key-1' });
    expect(fs.existsSync(path.join(workspace, '.venv'))).toBe(false); // lookup only
    expect(await call(workspace, restoreRequest('.venv', 'key-2', ['key-'], 60_000))).toEqual({ matchedKey: 'key-1' });
    expect(fs.readFileSync(path.join(workspace, '.venv', 'pyvenv.cfg'), 'utf8')).toBe('home = /usr/bin\n');
  });

  it('reports a miss as no matched key', async () => {
    expect(await call(tempDir(), restoreRequest('.venv', 'absent', [], 60_000))).toEqual({});
  });
});

describe('cachePath', () => {
  it('names the venv relative to the workspace, as the archive and the version see it', () => {
    expect(cachePath('/ws/repo', '/ws/repo/.venv')).toBe('.venv');
    expect(cachePath('/ws/repo', '/home/u/.cache/pypoetry/virtualenvs/p-py3.11')).toBe('../../home/u/.cache/pypoetry/virtualenvs/p-py3.11');
  });
});

describe('the library calls the worker makes', () => {
  // A recorder of the arguments in place of @actions/cache: what matters is what the worker passes.
  const calls: unknown[][] = [];
  const recordingLibrary: CacheLibrary = {
    restoreCache: async (...args: unknown[]): Promise<string | undefined> => (calls.push(['restoreCache', ...args]), undefined),
    saveCache: async (...args: unknown[]): Promise<number> => (calls.push(['saveCache', ...args]), 7),
  };
  const venv = '/home/runner/work/p/p/.venv';

  it.each([
    ['restore', restoreRequest(venv, 'setup-poetry-torch-v1-x', ['setup-poetry-torch-v1-'], 60_000)],
    ['save', saveRequest(venv, 'setup-poetry-torch-v1-x')],
  ])('the %s leaves enableCrossOsArchive at its default (false): Windows venvs stay Windows-only', async (op, request) => {
    calls.length = 0;
    await workerMain({ [WORKER_ENV]: JSON.stringify(request) }, () => {}, recordingLibrary);
    const last = calls[calls.length - 1];
    if (op === 'restore') {
      expect(last.slice(0, 4)).toEqual(['restoreCache', [venv], 'setup-poetry-torch-v1-x', ['setup-poetry-torch-v1-']]);
      expect(last[4]).toMatchObject({ lookupOnly: false });
    } else {
      expect(calls[0][0]).toBe('restoreCache'); // the lookup first
      expect(last).toEqual(['saveCache', [venv], 'setup-poetry-torch-v1-x']);
    }
    // restoreCache's fifth parameter and saveCache's fourth are enableCrossOsArchive: never given.
    expect(last.length).toBeLessThanOrEqual(op === 'restore' ? 5 : 3);
  });
});
