/** Pieces every platform's decision shares: the blocked verdict, hidden GPUs, the hardware line. */
import { countBy } from './text.js';
import type { Detection, GpuInfo } from './types.js';

export type Verdict = Pick<Detection, 'cudaUsable' | 'diagnosis' | 'reason'>;
export type Base = Omit<Detection, keyof Verdict>;

export function blocked(diagnosis: string): Verdict {
  return { cudaUsable: false, diagnosis, reason: `CUDA not usable: ${diagnosis}` };
}

/** GPUs the environment hides count as no GPU, whatever else was found. */
export function hiddenDetection(base: Base, setting: string, hardware: string): Detection {
  return {
    ...base,
    cudaUsable: false,
    hiddenByEnv: setting,
    diagnosis: `GPUs hidden by ${setting}`,
    reason: `CUDA not usable: GPUs hidden by ${setting} (environment)${hardware ? `; present: ${hardware}` : ''}`,
  };
}

/** '4 x NVIDIA H100 80GB HBM3', '1 x NVIDIA GPU 10de:1eb8'. */
export function describeHardware(gpus: GpuInfo[]): string {
  return countBy(
    gpus.map((gpu) => gpu.name),
    true,
  );
}
