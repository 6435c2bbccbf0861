/** The loaded NVIDIA kernel module's version: /proc/driver/nvidia/version, else /sys/module/nvidia/version. */
import path from 'node:path';
import { readOptional } from './text.js';
import type { SourceRecord } from './types.js';

export interface DriverVersionRead {
  version?: string;
  nouveau?: boolean;
  record: SourceRecord;
}

export async function readProcDriverVersion(root: string): Promise<DriverVersionRead> {
  const text = await readOptional(path.join(root, 'proc', 'driver', 'nvidia', 'version'));
  if (text === undefined) {
    return { record: { source: 'proc-driver-version', ok: false, detail: '/proc/driver/nvidia/version missing (no NVIDIA kernel module loaded)' } };
  }
  const version = parseProcDriverVersion(text);
  const firstLine = text.split(/\r?\n/)[0].trim();
  if (!version) return { record: { source: 'proc-driver-version', ok: false, detail: `unrecognised: ${firstLine}` } };
  const flavour = /Open Kernel Module/i.test(text) ? 'open kernel module' : 'proprietary kernel module';
  return { version, record: { source: 'proc-driver-version', ok: true, detail: `${version} (${flavour})` } };
}

/**
 * "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.133.20  <date>" (proprietary) or
 * "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build ..." (open).
 */
export function parseProcDriverVersion(text: string): string | undefined {
  return /Kernel Module(?:\s+for\s+\S+)?\s+(\d+(?:\.\d+)+)/.exec(text)?.[1];
}

export async function readModuleDriverVersion(root: string): Promise<DriverVersionRead> {
  const text = await readOptional(path.join(root, 'sys', 'module', 'nvidia', 'version'));
  const version = text?.trim();
  if (version && /^\d+(\.\d+)+$/.test(version)) {
    return { version, record: { source: 'sys-module-version', ok: true, detail: version } };
  }
  const nouveau = (await readOptional(path.join(root, 'sys', 'module', 'nouveau', 'initstate'))) !== undefined;
  const detail = text === undefined ? '/sys/module/nvidia/version missing' : `unrecognised: ${version}`;
  return { nouveau, record: { source: 'sys-module-version', ok: false, detail: nouveau ? `${detail}; nouveau is loaded` : detail } };
}
