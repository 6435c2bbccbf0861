/** NVIDIA GPUs on the PCI bus, from /sys/bus/pci/devices: present whether or not a driver is loaded. */
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { abbreviate, countBy, errorCode, readOptional } from './text.js';
import type { SourceRecord } from './types.js';

export interface PciFunction {
  address: string;
  vendorDevice: string;
  classCode: string;
  driver?: string;
}

export interface PciScan {
  readable: boolean;
  gpus: PciFunction[];
  summary: string;
  record: SourceRecord;
}

// PCI class 0x0300 (VGA) and 0x0302 (3D controller) are GPUs. NVIDIA's other functions
// (HDMI audio 0x0403, NVSwitch/bridges 0x0680, USB-C 0x0c03) are not, though lspci lists them too.
const GPU_CLASS_PREFIXES = ['0x0300', '0x0302'];
const NVIDIA_VENDOR_ID = '10de';

export async function scanPci(root: string): Promise<PciScan> {
  const devicesDir = path.join(root, 'sys', 'bus', 'pci', 'devices');
  let entries: string[];
  try {
    entries = (await readdir(devicesDir)).sort();
  } catch (error) {
    const detail = `cannot read /sys/bus/pci/devices (${errorCode(error)})`;
    return { readable: false, gpus: [], summary: detail, record: { source: 'sysfs-pci', ok: false, detail } };
  }
  const functions: PciFunction[] = [];
  for (const entry of entries) {
    const fn = await readPciFunction(path.join(devicesDir, entry), entry);
    if (fn) functions.push(fn);
  }
  const nvidia = functions.filter((fn) => fn.vendorDevice.startsWith(`${NVIDIA_VENDOR_ID}:`));
  const gpus = nvidia.filter((fn) => GPU_CLASS_PREFIXES.some((prefix) => fn.classCode.startsWith(prefix)));
  const others = nvidia.filter((fn) => !gpus.includes(fn));
  const otherText = others.length ? `; not GPUs: ${countBy(others.map((fn) => `${fn.vendorDevice} class ${fn.classCode}`))}` : '';
  if (gpus.length === 0) {
    const summary = `no NVIDIA display or 3D controller among ${functions.length} PCI functions`;
    return { readable: true, gpus, summary, record: { source: 'sysfs-pci', ok: false, detail: `${summary}${otherText}` } };
  }
  const listed = gpus.map((fn) => `${fn.address} ${fn.vendorDevice}${fn.driver ? ` (driver ${fn.driver})` : ' (no driver bound)'}`);
  const summary = `${gpus.length} NVIDIA GPU function(s) on the PCI bus`;
  return { readable: true, gpus, summary, record: { source: 'sysfs-pci', ok: true, detail: `${summary}: ${abbreviate(listed, 4)}${otherText}` } };
}

async function readPciFunction(dir: string, entryName: string): Promise<PciFunction | undefined> {
  const [vendor, device, classCode, uevent] = await Promise.all(['vendor', 'device', 'class', 'uevent'].map((file) => readOptional(path.join(dir, file))));
  if (vendor === undefined || device === undefined || classCode === undefined) return undefined;
  const ueventFields = parseKeyValueLines(uevent ?? '');
  // uevent carries the canonical address; fixture directories may not be named with ':'.
  const address = ueventFields.PCI_SLOT_NAME ?? entryName;
  const driver = ueventFields.DRIVER ?? (await boundDriverFromSymlink(dir));
  return {
    address,
    vendorDevice: `${hex4(vendor.trim().toLowerCase())}:${hex4(device.trim().toLowerCase())}`,
    classCode: classCode.trim().toLowerCase(),
    driver,
  };
}

async function boundDriverFromSymlink(dir: string): Promise<string | undefined> {
  try {
    return path.basename(await readlink(path.join(dir, 'driver')));
  } catch {
    return undefined;
  }
}

function parseKeyValueLines(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf('=');
    if (at > 0) fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return fields;
}

function hex4(id: string): string {
  return id.replace(/^0x/, '').padStart(4, '0');
}

/** nvidia-smi writes '00000000:18:00.0', sysfs '0000:18:00.0'. */
export function sameBusAddress(a: string, b: string): boolean {
  const normalize = (address: string): string => {
    const match = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(address.trim());
    return match ? `${parseInt(match[1], 16)}:${match[2]}:${match[3]}.${match[4]}`.toLowerCase() : address;
  };
  return normalize(a) === normalize(b);
}
