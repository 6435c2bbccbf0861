import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadInputs, type GetInput } from '../src/inputs.js';
import { ActionError } from '../src/errors.js';

const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'inputs-'));
fs.mkdirSync(path.join(workspace, 'proj'));

function inputs(values: Record<string, string>): GetInput {
  return (name) => values[name] ?? '';
}

function load(values: Record<string, string>) {
  return loadInputs(inputs(values), { workspace });
}

describe('loadInputs', () => {
  it('gives the documented defaults', () => {
    expect(load({})).toEqual({
      mode: 'auto',
      expectCuda: 'auto',
      workingDirectory: workspace,
      cpuExtras: 'auto',
      cpuGroups: 'auto',
      cudaExtras: 'auto',
      cudaGroups: 'auto',
      syncArgs: [],
      python: undefined,
      poetryVersion: '2.5.1',
      cache: true,
      cacheSuffix: '',
      // Checked against the runner's env by src/cache/config.ts.
      venvStore: '',
      venvStoreMaxSize: '',
    });
  });

  it('parses lists, booleans and paths', () => {
    const parsed = load({
      mode: 'CUDA',
      'expect-cuda': 'false',
      'working-directory': 'proj',
      'cuda-extras': 'cuda, gpu  extra2',
      'cuda-groups': 'cuda,gpu',
      'sync-args': '--no-root  --compile',
      cache: 'False',
    });
    expect(parsed.mode).toBe('cuda');
    expect(parsed.expectCuda).toBe(false);
    expect(parsed.workingDirectory).toBe(path.join(workspace, 'proj'));
    expect(parsed.cudaExtras).toEqual(['cuda', 'gpu', 'extra2']);
    expect(parsed.cudaGroups).toEqual(['cuda', 'gpu']);
    expect(parsed.cpuGroups).toBe('auto');
    expect(parsed.syncArgs).toEqual(['--no-root', '--compile']);
    expect(parsed.cache).toBe(false);
  });

  it('reads `auto` and `none` for the extras and groups inputs', () => {
    const parsed = load({ 'cpu-extras': 'AUTO', 'cpu-groups': 'none', 'cuda-extras': 'None', 'cuda-groups': '' });
    expect(parsed).toMatchObject({ cpuExtras: 'auto', cpuGroups: [], cudaExtras: [], cudaGroups: 'auto' });
    expect(() => load({ 'cuda-groups': 'cuda none' })).toThrow('Input \'cuda-groups\' is "none"; allowed: `auto`, `none`, or names');
  });

  it.each([
    ['mode', 'gpu', 'Input \'mode\' is "gpu"; allowed: auto, cpu, cuda.'],
    ['expect-cuda', 'maybe', 'Input \'expect-cuda\' is "maybe"; allowed: auto, true, false.'],
    ['cache', 'yes please', 'Input \'cache\' is "yes please"; allowed: true, false.'],
    ['poetry-version', 'latest', 'Input \'poetry-version\' is "latest"; allowed: a version such as 2.5.1.'],
    ['cpu-extras', 'cpu;rm -rf /', 'Input \'cpu-extras\' is "cpu;rm"'],
    ['working-directory', '../outside', 'Input \'working-directory\' is "../outside"; allowed: a directory inside the workspace.'],
    ['working-directory', '/etc', 'Input \'working-directory\' is "/etc"; allowed: a directory inside the workspace.'],
    ['working-directory', 'missing', 'Input \'working-directory\' is "missing", which does not exist'],
    ['sync-args', '--directory=/tmp', 'Input \'sync-args\' is "--directory=/tmp"'],
    ['cache-suffix', 'a,b', 'Input \'cache-suffix\' is "a,b"'],
    ['python', '3.12\nrm', "Input 'python' is"],
  ])('rejects %s=%j with one line naming the input', (name, value, message) => {
    let caught: unknown;
    try {
      load({ [name]: value });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ActionError);
    const text = (caught as Error).message;
    expect(text.startsWith(message)).toBe(true);
    expect(text).not.toContain('\n');
  });

  it('keeps shell metacharacters in sync-args as plain argv entries', () => {
    expect(load({ 'sync-args': '--no-root $(touch x) ;' }).syncArgs).toEqual(['--no-root', '$(touch', 'x)', ';']);
  });
});
