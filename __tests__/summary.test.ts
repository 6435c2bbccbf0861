import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summaryMarkdown, writeOutputs, writeSummary, type RunRecord } from '../src/summary.js';

const cudaRun: RunRecord = {
  detection: {
    cudaUsable: true,
    gpus: [{ name: 'Tesla T4', computeCapability: '7.5', driverVersion: '570.133.20' }],
    driverVersion: '570.133.20',
    hardwarePresent: true,
    sources: [
      { source: 'sysfs-pci', ok: true, detail: '1 NVIDIA function' },
      { source: 'nvidia-smi', ok: true, detail: '1 GPU(s): 0: Tesla T4' },
    ],
    reason: 'found 1 x Tesla T4 (nvidia-smi)',
  },
  mode: 'cuda',
  modeReason: 'auto: a usable NVIDIA GPU',
  cudaDriverVersion: '12.8',
  pythonVersion: '3.12.10 (/usr/bin/python3)',
  poetryVersion: '2.5.1',
  venvPath: '/work/p/.venv',
  pythonPath: '/work/p/.venv/bin/python',
  cacheKey: 'setup-poetry-torch-v1-linux-x64-cuda-abc',
  restore: { kind: 'partial', from: 'cache', matchedKey: 'setup-poetry-torch-v1-linux-x64-cuda-old', durationMs: 4_200 },
  syncCommand: 'poetry sync --extras cuda --with cuda',
  syncAttempts: 2,
  syncMs: 61_000,
  probe: {
    python: '3.12.10',
    torch_installed: true,
    torch_version: '2.8.0+cu128',
    cuda_version: '12.8',
    cuda_available: true,
    device_count: 1,
    devices: [{ index: 0, name: 'Tesla T4', capability: '7.5', memory_mib: 15360, matmul: { value: { ok: true, max_abs_error: 0 } } }],
  },
  save: { saved: true, durationMs: 9_500 },
};

/** The rows of the first table, and the part inside <details>. */
function split(markdown: string): { head: string; folded: string } {
  const at = markdown.indexOf('<details>');
  return at < 0 ? { head: markdown, folded: '' } : { head: markdown.slice(0, at), folded: markdown.slice(at) };
}

describe('summaryMarkdown', () => {
  it('puts the verdict, mode, torch build, cache result and times first', () => {
    const markdown = summaryMarkdown(cudaRun);
    const { head } = split(markdown);
    expect(head).toBe(
      [
        '### setup-poetry-torch',
        '',
        '✅ verified',
        '',
        '| | |',
        '|---|---|',
        '| Mode | cuda (auto: a usable NVIDIA GPU) |',
        '| torch | 2.8.0+cu128 (CUDA 12.8) |',
        '| CUDA available | true (1 device(s)) |',
        '| GPU 0 | Tesla T4, sm 7.5, 15360 MiB, matmul ok |',
        '| Cache restore | partial hit from the cache (`setup-poetry-torch-v1-linux-x64-cuda-old`) in 4.2 s |',
        '| Sync | `poetry sync --extras cuda --with cuda` in 61 s, 2 tries |',
        '| Cache save | saved in 9.5 s |',
        '',
        '',
      ].join('\n'),
    );
  });

  it('folds the detection sources and the environment into a collapsed <details>', () => {
    const { folded } = split(summaryMarkdown(cudaRun));
    expect(folded.startsWith('<details><summary>Detection and environment</summary>\n\n| | |\n|---|---|\n')).toBe(true);
    expect(folded).not.toMatch(/<details open/);
    expect(folded.trimEnd().endsWith('</details>')).toBe(true);
    for (const row of [
      '| GPU | found 1 x Tesla T4 (nvidia-smi) |',
      '| source: sysfs-pci | yes: 1 NVIDIA function |',
      '| source: nvidia-smi | yes: 1 GPU(s): 0: Tesla T4 |',
      '| Newest CUDA the driver supports | 12.8 |',
      '| Python | 3.12.10 (/usr/bin/python3) |',
      '| Poetry | 2.5.1 |',
      '| Cache key | `setup-poetry-torch-v1-linux-x64-cuda-abc` |',
    ]) {
      expect(folded).toContain(`\n${row}\n`);
    }
  });

  it('says why a run failed, and how far it got, in the same order', () => {
    const markdown = summaryMarkdown({
      mode: 'cpu',
      failure: 'poetry.lock not found in /w: run `poetry lock`',
      save: { saved: false, reason: 'verification failed' },
    });
    expect(markdown).toBe(
      '### setup-poetry-torch\n\n❌ poetry.lock not found in /w: run `poetry lock`\n\n| | |\n|---|---|\n| Mode | cpu |\n| Cache restore | not reached |\n| Cache save | not saved: verification failed |\n',
    );
  });

  it('describes every restore outcome, a skipped sync, a discarded venv and a missing torch', () => {
    const rows = (record: RunRecord): string => split(summaryMarkdown(record)).head;
    expect(rows({ restore: { kind: 'exact', from: 'store', matchedKey: 'k', durationMs: 1_000 }, syncSkipped: 'exact store hit' })).toContain(
      '| Cache restore | exact hit from the store in 1 s |\n| Sync | skipped: exact store hit |',
    );
    expect(rows({ restore: { kind: 'miss', durationMs: 5 } })).toContain('| Cache restore | miss |');
    expect(rows({ restore: { kind: 'skipped', reason: 'cache: false' } })).toContain('| Cache restore | skipped: cache: false |');
    expect(
      rows({ restore: { kind: 'failed', reason: 'the cache service did not finish within 4 s', durationMs: 4_000 }, venvDiscarded: 'no pyvenv.cfg' }),
    ).toContain('| Cache restore | failed (warning): the cache service did not finish within 4 s |\n| Restored venv | discarded: no pyvenv.cfg |');
    expect(rows({ probe: { python: '3.12', torch_installed: false, import_error: "No module named 'torch'" } })).toContain(
      "| torch | not installed (No module named 'torch') |\n| CUDA available | false (0 device(s)) |",
    );
  });

  it('escapes what would break the table or inject HTML', () => {
    const markdown = summaryMarkdown({ failure: 'x', mode: 'cpu', modeReason: 'a | b <script>&' });
    expect(markdown).toContain('| Mode | cpu (a \\| b &lt;script&gt;&amp;) |');
  });
});

function restoreEnv(name: 'GITHUB_OUTPUT' | 'GITHUB_STEP_SUMMARY', value: string | undefined): void {
  if (value === undefined) Reflect.deleteProperty(process.env, name);
  else process.env[name] = value;
}

describe('writeOutputs and writeSummary (through @actions/core, into the runner files)', () => {
  let dir: string;
  const saved = { output: process.env.GITHUB_OUTPUT, summary: process.env.GITHUB_STEP_SUMMARY };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spt-summary-'));
    process.env.GITHUB_OUTPUT = path.join(dir, 'output');
    process.env.GITHUB_STEP_SUMMARY = path.join(dir, 'summary');
    fs.writeFileSync(process.env.GITHUB_OUTPUT, '');
    fs.writeFileSync(process.env.GITHUB_STEP_SUMMARY, '');
  });
  afterEach(() => {
    restoreEnv('GITHUB_OUTPUT', saved.output);
    restoreEnv('GITHUB_STEP_SUMMARY', saved.summary);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** GITHUB_OUTPUT's name<<delimiter blocks as a map. */
  function outputs(): Record<string, string> {
    const text = fs.readFileSync(path.join(dir, 'output'), 'utf8');
    const found: Record<string, string> = {};
    for (const match of text.matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) found[match[1]] = match[3];
    return found;
  }

  it('sets every output from the record, empty where the step did not get that far', () => {
    writeOutputs(cudaRun);
    expect(outputs()).toEqual({
      mode: 'cuda',
      'gpu-detected': 'true',
      'gpu-names': 'Tesla T4',
      'driver-version': '570.133.20',
      'cuda-driver-version': '12.8',
      'cache-hit': 'false',
      'restored-from': 'cache',
      'cache-matched-key': 'setup-poetry-torch-v1-linux-x64-cuda-old',
      'cache-key': 'setup-poetry-torch-v1-linux-x64-cuda-abc',
      'venv-path': '/work/p/.venv',
      'python-path': '/work/p/.venv/bin/python',
      'torch-version': '2.8.0+cu128',
      'torch-cuda-version': '12.8',
      'cuda-available': 'true',
      'device-count': '1',
    });
    fs.writeFileSync(path.join(dir, 'output'), '');
    writeOutputs({ failure: 'bad input' });
    expect(Object.values(outputs()).filter(Boolean)).toEqual(['false']);
    expect(outputs()['cache-hit']).toBe('false');
  });

  it('appends the summary to the step summary file', async () => {
    await writeSummary(cudaRun);
    expect(fs.readFileSync(path.join(dir, 'summary'), 'utf8')).toBe(summaryMarkdown(cudaRun));
  });
});
