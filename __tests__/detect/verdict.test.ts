import { blocked, describeHardware, hiddenDetection } from '../../src/detect/verdict.js';

describe('verdict helpers', () => {
  it('blocked names the diagnosis in the reason', () => {
    expect(blocked('x')).toEqual({ cudaUsable: false, diagnosis: 'x', reason: 'CUDA not usable: x' });
  });

  it('counts identical GPUs once', () => {
    expect(describeHardware([{ name: 'A' }, { name: 'B' }, { name: 'A' }])).toBe('2 x A, 1 x B');
  });

  it('hides GPUs by the environment whatever was found', () => {
    const detection = hiddenDetection({ gpus: [], hardwarePresent: true, sources: [] }, 'CUDA_VISIBLE_DEVICES=', '');
    expect(detection).toMatchObject({
      cudaUsable: false,
      hiddenByEnv: 'CUDA_VISIBLE_DEVICES=',
      reason: 'CUDA not usable: GPUs hidden by CUDA_VISIBLE_DEVICES= (environment)',
    });
  });
});
