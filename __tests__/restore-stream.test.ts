import type { Writable } from 'node:stream';
// The library's own version function, reached by path (its package exports only the public API):
// a streamed restore finds the library's entries only while the two agree.
import { getCacheVersion } from '../node_modules/@actions/cache/lib/internal/cacheUtils.js';
import { runCommand } from '../src/exec.js';
import { cacheVersion, canStreamRestore } from '../src/restore-stream.js';

const v2 = { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: 'https://results.example/', ACTIONS_RUNTIME_TOKEN: 't' };

describe('cacheVersion', () => {
  it.each([
    [['/home/runner/work/app/app/.venv'], 'zstd-without-long'],
    [['/home/runner/.cache/pypoetry/virtualenvs/app-Xy12-py3.11'], 'gzip'],
    [['/a', '/b c'], 'zstd-without-long'],
  ] as const)('matches @actions/cache for %j with %s', (paths, compression) => {
    expect(cacheVersion([...paths], compression)).toBe(getCacheVersion([...paths], compression as never, false));
  });
});

describe('canStreamRestore', () => {
  it('streams on Linux with cache service v2 on github.com', () => {
    expect(canStreamRestore(v2, 'linux')).toBe(true);
    expect(canStreamRestore({ ...v2, GITHUB_SERVER_URL: 'https://github.com' }, 'linux')).toBe(true);
    expect(canStreamRestore({ ...v2, GITHUB_SERVER_URL: 'https://acme.ghe.com' }, 'linux')).toBe(true);
  });
  it.each([
    ['Windows', v2, 'win32'],
    ['macOS', v2, 'darwin'],
    ['cache service v1', { ...v2, ACTIONS_CACHE_SERVICE_V2: '' }, 'linux'],
    ['GHES (the library uses v1 there)', { ...v2, GITHUB_SERVER_URL: 'https://github.acme.internal' }, 'linux'],
    ['no token', { ...v2, ACTIONS_RUNTIME_TOKEN: '' }, 'linux'],
    ['SETUP_POETRY_TORCH_STREAM_RESTORE=false', { ...v2, SETUP_POETRY_TORCH_STREAM_RESTORE: 'false' }, 'linux'],
  ] as const)('leaves %s to the library', (_name, env, platform) => {
    expect(canStreamRestore({ ...env }, platform)).toBe(false);
  });
});

describe('runCommand input', () => {
  it('feeds stdin and closes it', async () => {
    const result = await runCommand('wc', ['-c'], {
      input: async (stdin: Writable) => {
        for (let i = 0; i < 100; i++) if (!stdin.write(Buffer.alloc(10_000, 1))) await new Promise((r) => stdin.once('drain', r));
      },
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe('1000000');
    expect(result.inputError).toBeUndefined();
  });
  it('kills the program when the input fails, and says why', async () => {
    const result = await runCommand('cat', [], {
      input: async (stdin: Writable) => {
        stdin.write('partial');
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('connection reset');
      },
      timeoutMs: 10_000,
    });
    expect(result.inputError).toBe('connection reset');
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).not.toBe(0);
  });
  it('gives a program with no input an empty stdin', async () => {
    const result = await runCommand('wc', ['-c']);
    expect(result.stdout.trim()).toBe('0');
  });
});
