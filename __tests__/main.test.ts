import { jest } from '@jest/globals';
import type { Detection } from '../src/detect/index.js';

// main.ts starts the cache worker through @actions/cache; the pure decisions tested here never call it.
jest.unstable_mockModule('@actions/cache', () => ({ restoreCache: jest.fn(), saveCache: jest.fn(), isFeatureAvailable: () => false }));
// The save decision is cache/save.ts's decideSave, tested in __tests__/cache/save.test.ts.
const { chooseMode } = await import('../src/main.js');

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
