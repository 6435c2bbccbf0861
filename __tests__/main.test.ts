import { jest } from '@jest/globals';
import type { RestoreOutcome } from '../src/cache.js';
import type { Detection } from '../src/detect.js';

// main.ts starts the cache worker through @actions/cache; the pure decisions tested here never call it.
jest.unstable_mockModule('@actions/cache', () => ({ restoreCache: jest.fn(), saveCache: jest.fn(), isFeatureAvailable: () => false }));
const { chooseMode, decideSave } = await import('../src/main.js');

const gpu: Detection = { cudaUsable: true, gpus: [{ name: 'Tesla T4' }], hardwarePresent: true, sources: [], reason: 'found 1x Tesla T4 (nvidia-smi)' };
const noGpu: Detection = { cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason: 'no NVIDIA GPU', diagnosis: undefined };
const brokenDriver: Detection = { ...noGpu, hardwarePresent: true, diagnosis: 'driver 535 loaded but nvidia-smi failed', reason: 'CUDA not usable' };

describe('chooseMode', () => {
  it.each([
    ['cpu', gpu, 'cpu', 'mode: cpu'],
    ['cuda', noGpu, 'cuda', 'mode: cuda'],
    ['auto', gpu, 'cuda', 'auto: found 1x Tesla T4 (nvidia-smi)'],
    ['auto', noGpu, 'cpu', 'auto: no usable NVIDIA GPU (no NVIDIA GPU)'],
    ['auto', brokenDriver, 'cpu', 'auto: no usable NVIDIA GPU (driver 535 loaded but nvidia-smi failed)'],
  ] as const)('mode %s on %j -> %s', (mode, detection, expected, reason) => {
    expect(chooseMode({ mode }, detection)).toEqual({ mode: expected, reason });
  });
});

describe('decideSave', () => {
  const partial: RestoreOutcome = { kind: 'partial', matchedKey: 'k-old', durationMs: 5 };
  it.each<[string, boolean, RestoreOutcome, ReturnType<typeof decideSave>]>([
    ['cache off', false, partial, { save: false, reason: 'cache: false' }],
    ['exact hit', true, { kind: 'exact', matchedKey: 'k', durationMs: 5 }, { save: false, reason: 'exact hit, nothing new to save' }],
    ['partial hit', true, partial, { save: true }],
    ['miss', true, { kind: 'miss', durationMs: 5 }, { save: true }],
    ['cache unavailable', true, { kind: 'skipped', reason: 'no ACTIONS_RUNTIME_TOKEN' }, { save: false, reason: 'no ACTIONS_RUNTIME_TOKEN' }],
    ['restore failed fast', true, { kind: 'failed', reason: 'HTTP 500', durationMs: 5 }, { save: true }],
    [
      'restore stalled',
      true,
      { kind: 'failed', reason: 'no answer in 60 s', durationMs: 60_000, stalled: true },
      { save: false, reason: 'not tried: the cache service stalled during the restore (no answer in 60 s)', trouble: true },
    ],
  ])('%s', (_name, cache, restored, expected) => {
    expect(decideSave(cache, restored)).toEqual(expected);
  });
});
