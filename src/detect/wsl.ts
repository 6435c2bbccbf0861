/**
 * WSL2: the GPU never appears on a Linux PCI bus. The Windows NVIDIA driver is passed
 * through /dev/dxg, and its user-mode libraries (libcuda, nvidia-smi) are mounted at
 * /usr/lib/wsl/lib. Nothing is installed inside the distribution.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { readOptional } from './text.js';
import type { SourceRecord } from './types.js';

export const WSL_LIB_DIR = '/usr/lib/wsl/lib';

export interface WslFacts {
  isWsl: boolean;
  dxg: boolean;
  record?: SourceRecord;
}

export async function readWsl(root: string): Promise<WslFacts> {
  const dxg = (await readOptional(path.join(root, 'dev', 'dxg'))) !== undefined || (await listed(path.join(root, 'dev'))).includes('dxg');
  const libcuda = (await listed(path.join(root, WSL_LIB_DIR))).filter((name) => name.startsWith('libcuda.so'));
  const kernel = (await readOptional(path.join(root, 'proc', 'version')))?.trim();
  const microsoftKernel = kernel !== undefined && /microsoft|WSL/i.test(kernel);
  if (!dxg && libcuda.length === 0 && !microsoftKernel) return { isWsl: false, dxg };
  const said = [
    dxg ? '/dev/dxg present' : '/dev/dxg missing',
    libcuda.length ? `${WSL_LIB_DIR}/${libcuda.sort()[0]}` : `no libcuda in ${WSL_LIB_DIR}`,
    microsoftKernel ? `kernel ${/^Linux version (\S+)/.exec(kernel)?.[1] ?? 'Microsoft'}` : '',
  ].filter(Boolean);
  return { isWsl: true, dxg, record: { source: 'wsl', ok: dxg, detail: `WSL2: ${said.join(', ')}` } };
}

async function listed(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
