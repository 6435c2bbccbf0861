/** The /dev/nvidia* nodes CUDA opens: without nvidiactl and an nvidiaN node no process can reach a GPU. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { errorCode } from './text.js';
import type { SourceRecord } from './types.js';

export interface DeviceNodes {
  usable: boolean;
  gpuNodes: string[];
  record: SourceRecord;
}

export async function listDeviceNodes(root: string): Promise<DeviceNodes> {
  let names: string[];
  try {
    names = await readdir(path.join(root, 'dev'));
  } catch (error) {
    return { usable: false, gpuNodes: [], record: { source: 'dev-nodes', ok: false, detail: `cannot read /dev (${errorCode(error)})` } };
  }
  const nodes = names.filter((name) => /^nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)$/.test(name)).sort(byNodeName);
  const gpuNodes = nodes.filter((name) => /^nvidia\d+$/.test(name)).map((name) => `/dev/${name}`);
  const usable = nodes.includes('nvidiactl') && gpuNodes.length > 0;
  const detail = nodes.length ? `/dev/${nodes.join(', /dev/')}` : 'no /dev/nvidia* nodes';
  return {
    usable,
    gpuNodes,
    record: { source: 'dev-nodes', ok: usable, detail: usable || !nodes.length ? detail : `${detail} (incomplete: needs nvidiactl and nvidiaN)` },
  };
}

/** nvidia0, nvidia1, ... nvidia10 in numeric order, then the control nodes by name. */
function byNodeName(a: string, b: string): number {
  const number = (name: string): number => Number(/^nvidia(\d+)$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);
  return number(a) - number(b) || a.localeCompare(b);
}
