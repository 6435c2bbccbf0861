/**
 * Jetson/Tegra: an integrated GPU on the SoC, not on a PCI bus, driven by nvgpu. Its L4T
 * release (/etc/nv_tegra_release "R35 ... REVISION: 3.1" = 35.3.1) is also what JetPack 5
 * writes into /proc/driver/nvidia/version, so it must not be taken for a driver version.
 */
import path from 'node:path';
import { readOptional } from './text.js';
import type { SourceRecord } from './types.js';

export interface TegraFacts {
  isTegra: boolean;
  l4tRelease?: string;
  record?: SourceRecord;
}

export async function readTegra(root: string): Promise<TegraFacts> {
  const release = await readOptional(path.join(root, 'etc', 'nv_tegra_release'));
  const compatible = await readOptional(path.join(root, 'proc', 'device-tree', 'compatible'));
  const model = (await readOptional(path.join(root, 'proc', 'device-tree', 'model')))?.replace(/\0/g, '').trim();
  // The device tree lists NUL-separated strings, SoC last: "...\0nvidia,tegra234\0".
  const soc = /nvidia,(tegra\d+)/.exec(compatible ?? '')?.[1];
  if (release === undefined && soc === undefined) return { isTegra: false };
  const l4tRelease = release === undefined ? undefined : parseL4tRelease(release);
  const said = [
    l4tRelease ? `L4T ${l4tRelease} (/etc/nv_tegra_release)` : release === undefined ? '' : 'unrecognised /etc/nv_tegra_release',
    soc ? `SoC ${soc} (device tree)` : '',
    model ?? '',
  ].filter(Boolean);
  return { isTegra: true, l4tRelease, record: { source: 'tegra', ok: true, detail: `Jetson/Tegra integrated GPU: ${said.join(', ')}` } };
}

/** "# R35 (release), REVISION: 3.1, GCID: ..." -> '35.3.1'. */
export function parseL4tRelease(text: string): string | undefined {
  const match = /^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)\.(\d+)/m.exec(text);
  return match ? `${match[1]}.${match[2]}.${match[3]}` : undefined;
}

/**
 * A version read from the NVIDIA kernel module that is really the L4T release: equal to it,
 * or with a major below R100 (L4T releases are R2x-R3x, driver branches R4xx and up).
 */
export function isL4tRelease(version: string, l4tRelease: string | undefined): boolean {
  return version === l4tRelease || Number(version.split('.')[0]) < 100;
}
