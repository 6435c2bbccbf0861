import { interpretQuery, nvidiaSmiQueryArgs, parseSmiHeader, smiComplaint, smiRecord } from '../../src/detect/nvidia-smi.js';
import type { CommandResult } from '../../src/exec.js';

const FIELDS = ['index', 'name', 'driver_version', 'compute_cap', 'memory.total', 'pci.bus_id'];
const result = (over: Partial<CommandResult>): CommandResult => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, ...over });

describe('interpretQuery', () => {
  it('parses rows and leaves "[N/A]" fields out', () => {
    const outcome = interpretQuery(
      'nvidia-smi',
      result({ stdout: '0, NVIDIA A10G, 535.104.05, 8.6, [N/A], 00000000:00:1E.0\nnot a row\n' }),
      FIELDS,
      false,
      10_000,
    );
    expect(outcome).toMatchObject({ kind: 'listed', skippedLines: 1 });
    if (outcome.kind !== 'listed') throw new Error('not listed');
    expect(outcome.gpus).toEqual([
      { index: 0, name: 'NVIDIA A10G', busId: '00000000:00:1E.0', computeCapability: '8.6', memoryMiB: undefined, driverVersion: '535.104.05' },
    ]);
    expect(smiRecord(outcome).detail).toBe('nvidia-smi: 1 GPU(s): 0: NVIDIA A10G (8.6) (1 unparsed line(s) skipped)');
  });

  it.each([
    [{ exitCode: 6, stdout: 'No devices were found\n' }, 'no-gpus', 'nvidia-smi listed no GPUs (exit 6: No devices were found)'],
    [{ exitCode: 0, stdout: '' }, 'no-gpus', 'nvidia-smi listed no GPUs'],
    [{ exitCode: 9, stdout: 'NVIDIA-SMI has failed\n' }, 'failed', 'nvidia-smi failed (exit 9): NVIDIA-SMI has failed'],
    [{ exitCode: 0, stdout: 'hello\n' }, 'garbage', "nvidia-smi printed no GPU rows: 'hello'"],
    [{ exitCode: 128, timedOut: true }, 'timed-out', 'nvidia-smi did not answer within 10 s (hung driver?)'],
    [{ exitCode: -1, spawnError: 'spawn nvidia-smi EACCES' }, 'cannot-start', 'nvidia-smi could not be started: spawn nvidia-smi EACCES'],
  ])('%j is %s', (over, kind, complaint) => {
    const outcome = interpretQuery('nvidia-smi', result(over), FIELDS, false, 10_000);
    expect(outcome.kind).toBe(kind);
    expect(smiComplaint(outcome)).toBe(complaint);
  });
});

describe('nvidiaSmiQueryArgs', () => {
  it('asks for csv without header or units', () => {
    expect(nvidiaSmiQueryArgs(['index', 'name'])).toEqual(['--query-gpu=index,name', '--format=csv,noheader,nounits']);
  });
});

describe('parseSmiHeader', () => {
  it.each([
    ['| NVIDIA-SMI 590.48.01              Driver Version: 590.48.01      CUDA Version: 13.1     |', { cudaVersion: '13.1' }],
    ['| NVIDIA-SMI 610.43.02              KMD Version: 610.43.02     CUDA UMD Version: 13.3     |', { cudaVersion: '13.3' }],
    ['| NVIDIA-SMI 540.4.0   Driver Version: 540.4.0   CUDA Version: N/A   |', { failure: 'its header shows CUDA Version: N/A' }],
    ['Tesla T4, 535.104.05', { failure: 'no CUDA Version in its header' }],
  ])('%s', (text, expected) => {
    expect(parseSmiHeader(text)).toEqual(expected);
  });
});
