import { hiddenByEnvironment } from '../../src/detect/environment.js';

describe('hiddenByEnvironment', () => {
  it.each([
    [{ NVIDIA_VISIBLE_DEVICES: 'void' }, 'NVIDIA_VISIBLE_DEVICES=void'],
    [{ NVIDIA_VISIBLE_DEVICES: 'NONE' }, 'NVIDIA_VISIBLE_DEVICES=NONE'],
    [{ CUDA_VISIBLE_DEVICES: '' }, 'CUDA_VISIBLE_DEVICES='],
    [{ CUDA_VISIBLE_DEVICES: '-1,0' }, 'CUDA_VISIBLE_DEVICES=-1,0'],
  ])('%j hides every GPU', (env, setting) => {
    const check = hiddenByEnvironment(env);
    expect(check.setting).toBe(setting);
    expect(check.record.ok).toBe(false);
    expect(check.record.detail).toMatch(/: hides all GPUs$/);
  });

  it.each([[{}], [{ NVIDIA_VISIBLE_DEVICES: '' }], [{ NVIDIA_VISIBLE_DEVICES: 'all', CUDA_VISIBLE_DEVICES: '0,1' }]])('%j hides nothing', (env) => {
    expect(hiddenByEnvironment(env).setting).toBeUndefined();
  });

  it('shows an empty CUDA_VISIBLE_DEVICES as quotes', () => {
    expect(hiddenByEnvironment({ CUDA_VISIBLE_DEVICES: '' }).record.detail).toBe("NVIDIA_VISIBLE_DEVICES unset, CUDA_VISIBLE_DEVICES='': hides all GPUs");
  });
});
