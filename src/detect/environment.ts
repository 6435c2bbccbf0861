/** Environment variables that hide every GPU from CUDA whatever the hardware says. */
import type { SourceRecord } from './types.js';

export interface HiddenCheck {
  setting?: string;
  record: SourceRecord;
}

/**
 * NVIDIA_VISIBLE_DEVICES=void|none is the container toolkit's "no GPUs"; CUDA_VISIBLE_DEVICES
 * set but empty, or starting with -1, leaves the CUDA runtime no device (it stops at the first
 * invalid index). An empty NVIDIA_VISIBLE_DEVICES only matters when a container is created,
 * so it is not treated as hiding anything here.
 */
export function hiddenByEnvironment(env: NodeJS.ProcessEnv): HiddenCheck {
  const nvidia = env.NVIDIA_VISIBLE_DEVICES;
  const cuda = env.CUDA_VISIBLE_DEVICES;
  let setting: string | undefined;
  if (nvidia !== undefined && /^(void|none)$/i.test(nvidia.trim())) setting = `NVIDIA_VISIBLE_DEVICES=${nvidia}`;
  else if (cuda !== undefined && (cuda.trim() === '' || /^-\d+$/.test(cuda.split(',')[0].trim()))) setting = `CUDA_VISIBLE_DEVICES=${cuda}`;
  const shown = [
    nvidia === undefined ? 'NVIDIA_VISIBLE_DEVICES unset' : `NVIDIA_VISIBLE_DEVICES=${nvidia}`,
    cuda === undefined ? 'CUDA_VISIBLE_DEVICES unset' : `CUDA_VISIBLE_DEVICES=${cuda === '' ? "''" : cuda}`,
  ].join(', ');
  return { setting, record: { source: 'environment', ok: setting === undefined, detail: setting ? `${shown}: hides all GPUs` : shown } };
}
