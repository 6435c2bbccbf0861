/**
 * Finds out whether this runner can run CUDA: NVIDIA hardware on the PCI bus, a loaded
 * driver, an nvidia-smi that answers, device nodes, and environment variables that hide
 * GPUs. Every source is recorded with what it said, so a wrong guess can be explained
 * from the log alone. Nothing here throws: an unreadable source is a recorded answer.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { runCommand, type CommandResult, type RunCommand } from './exec.js';

export interface DetectDeps {
  platform: NodeJS.Platform;
  /** Filesystem root holding sys/, proc/ and dev/: '/' in production, a recorded tree in tests. */
  root: string;
  env: NodeJS.ProcessEnv;
  run: RunCommand;
  nvidiaSmiTimeoutMs: number;
  /** Programs tried in order until one starts; defaults per platform (see nvidiaSmiCandidatesFor). */
  nvidiaSmiCandidates?: string[];
}

export interface GpuInfo {
  index?: number;
  name: string;
  busId?: string;
  /** PCI vendor:device, e.g. '10de:2330'. */
  pciDeviceId?: string;
  /** e.g. '8.6'. */
  computeCapability?: string;
  memoryMiB?: number;
  driverVersion?: string;
}

export interface SourceRecord {
  source: 'sysfs-pci' | 'proc-driver-version' | 'sys-module-version' | 'nvidia-smi' | 'dev-nodes' | 'environment';
  /** true when this source speaks for CUDA being usable (found a GPU, a driver, nodes; env hides nothing). */
  ok: boolean;
  /** What it said, one line, for the summary. */
  detail: string;
}

export interface Detection {
  /** An NVIDIA GPU with a loaded, answering driver, not hidden by the environment: what `mode: auto` uses. */
  cudaUsable: boolean;
  /** nvidia-smi's list when it answered, else the PCI functions. */
  gpus: GpuInfo[];
  driverVersion?: string;
  /** NVIDIA display or 3D controller functions on the PCI bus, or GPUs listed by nvidia-smi. */
  hardwarePresent: boolean;
  /** e.g. 'NVIDIA_VISIBLE_DEVICES=void'. */
  hiddenByEnv?: string;
  /** Every source consulted, in order. */
  sources: SourceRecord[];
  /** One line when something disagrees or blocks CUDA. */
  diagnosis?: string;
  /** One line for the log: why cudaUsable is what it is, naming the source. */
  reason: string;
}

/**
 * SETUP_POETRY_TORCH_SYSTEM_ROOT moves where sys/, proc/ and dev/ are read from: for a
 * container that mounts the host's elsewhere, and for end-to-end tests fed recorded trees.
 */
export function defaultDetectDeps(env: NodeJS.ProcessEnv = process.env): DetectDeps {
  return { platform: process.platform, root: env.SETUP_POETRY_TORCH_SYSTEM_ROOT || '/', env, run: runCommand, nvidiaSmiTimeoutMs: 10_000 };
}

export function nvidiaSmiCandidatesFor(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform !== 'win32') return ['nvidia-smi'];
  // The driver installs nvidia-smi.exe in System32 (recent drivers) or NVSMI (older ones); neither is always on PATH.
  const systemRoot = env.SystemRoot ?? env.SYSTEMROOT ?? 'C:\\Windows';
  return ['nvidia-smi.exe', `${systemRoot}\\System32\\nvidia-smi.exe`, 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'];
}

export async function detectGpu(deps: DetectDeps): Promise<Detection> {
  if (deps.platform === 'linux') return detectOnLinux(deps);
  if (deps.platform === 'win32') return detectOnWindows(deps);
  const why =
    deps.platform === 'darwin'
      ? 'no CUDA on macOS (NVIDIA stopped at CUDA 10.2 there and PyTorch has no CUDA builds for it)'
      : `no CUDA support on ${deps.platform}`;
  return { cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason: why };
}

// ---------------------------------------------------------------- Linux

async function detectOnLinux(deps: DetectDeps): Promise<Detection> {
  const sources: SourceRecord[] = [];
  const pci = await scanPci(deps.root);
  sources.push(pci.record);
  const procDriver = await readProcDriverVersion(deps.root);
  sources.push(procDriver.record);
  const moduleDriver = await readModuleDriverVersion(deps.root);
  sources.push(moduleDriver.record);
  const smi = await queryNvidiaSmi(deps);
  sources.push(smiRecord(smi));
  const nodes = await listDeviceNodes(deps.root);
  sources.push(nodes.record);
  const hidden = hiddenByEnvironment(deps.env);
  sources.push(hidden.record);

  const kernelDriver = procDriver.version ?? moduleDriver.version;
  const pciGpus = pci.gpus.map((fn): GpuInfo => ({
    name: `NVIDIA GPU ${fn.vendorDevice}`,
    busId: fn.address,
    pciDeviceId: fn.vendorDevice,
    driverVersion: kernelDriver,
  }));
  const listed = smi.kind === 'listed' ? withPciIds(smi.gpus, pci.gpus) : undefined;
  const gpus = listed ?? pciGpus;
  const driverVersion = listed?.find((gpu) => gpu.driverVersion)?.driverVersion ?? kernelDriver;
  const base = { gpus, driverVersion, hardwarePresent: pciGpus.length > 0 || (listed?.length ?? 0) > 0, sources };
  const hardware = describeHardware(listed, pci.gpus);
  const noDriver =
    pci.gpus.length > 0 && kernelDriver === undefined
      ? `NVIDIA GPU on the PCI bus (${pci.gpus[0].vendorDevice}) but no driver loaded (/proc/driver/nvidia/version missing${moduleDriver.nouveau ? '; nouveau is loaded instead' : ''})`
      : undefined;

  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);

  switch (smi.kind) {
    case 'listed': {
      const disagreement =
        smi.exitCode !== 0
          ? `nvidia-smi listed ${smi.gpus.length} GPU(s) but exited ${smi.exitCode}: ${smi.message}`
          : kernelDriver && driverVersion && kernelDriver !== driverVersion
            ? `driver versions disagree: the kernel module says ${kernelDriver}, nvidia-smi says ${driverVersion}`
            : undefined;
      return {
        ...base,
        cudaUsable: true,
        diagnosis: disagreement,
        reason: `found ${hardware} (nvidia-smi)${driverVersion ? `, driver ${driverVersion}` : ''}`,
      };
    }
    case 'not-installed': {
      if (kernelDriver && nodes.usable && (pci.gpus.length > 0 || !pci.readable)) {
        // Containers often get the driver and /dev nodes without the nvidia-smi binary. A loaded
        // module plus device nodes is what CUDA itself needs, so assume usable and let the
        // torch verification step have the last word rather than silently falling back to CPU.
        return {
          ...base,
          cudaUsable: true,
          diagnosis: 'nvidia-smi is not installed: CUDA assumed usable from the loaded driver and /dev/nvidia* nodes',
          reason: `found ${hardware || 'GPUs behind unreadable sysfs'} (sysfs-pci), driver ${kernelDriver} (${procDriver.version ? 'proc-driver-version' : 'sys-module-version'}), ${nodes.gpuNodes.join(', ')} present; nvidia-smi is not installed, so CUDA is assumed usable`,
        };
      }
      if (kernelDriver) {
        const diagnosis = nodes.usable
          ? `driver ${kernelDriver} loaded but no NVIDIA GPU on the PCI bus, and no nvidia-smi to ask`
          : `driver ${kernelDriver} loaded but no /dev/nvidia* device nodes and no nvidia-smi (container started without GPU access?)`;
        return { ...base, cudaUsable: false, diagnosis, reason: `CUDA not usable: ${diagnosis}` };
      }
      if (noDriver) return { ...base, cudaUsable: false, diagnosis: noDriver, reason: `CUDA not usable: ${noDriver}` };
      return { ...base, cudaUsable: false, reason: `no NVIDIA GPU: ${pci.summary}, no NVIDIA driver loaded, nvidia-smi not installed` };
    }
    case 'timed-out': {
      // A hang is a driver symptom even when sysfs shows nothing, so it is always diagnosed.
      const diagnosis = smiComplaint(smi);
      return { ...base, cudaUsable: false, diagnosis, reason: `CUDA not usable: ${diagnosis}` };
    }
    case 'failed':
    case 'cannot-start':
    case 'no-gpus':
    case 'garbage': {
      const complaint = smiComplaint(smi);
      if (pci.gpus.length === 0 && kernelDriver === undefined && pci.readable) {
        // nvidia-smi is installed but there is neither hardware nor a driver: a CPU runner with leftover utilities.
        return { ...base, cudaUsable: false, reason: `no NVIDIA GPU: ${pci.summary}, no NVIDIA driver loaded (${complaint})` };
      }
      const diagnosis = noDriver
        ? `${noDriver}; ${complaint}`
        : smi.kind === 'no-gpus' && pci.gpus.length > 0
          ? `nvidia-smi listed no GPUs although the PCI bus shows ${describeHardware(undefined, pci.gpus)}`
          : kernelDriver && smi.kind !== 'no-gpus'
            ? `driver ${kernelDriver} loaded but ${complaint}`
            : complaint;
      return { ...base, cudaUsable: false, diagnosis, reason: `CUDA not usable: ${diagnosis}` };
    }
  }
}

interface PciFunction {
  address: string;
  vendorDevice: string;
  classCode: string;
  driver?: string;
}

interface PciScan {
  readable: boolean;
  gpus: PciFunction[];
  summary: string;
  record: SourceRecord;
}

// PCI class 0x0300 (VGA) and 0x0302 (3D controller) are GPUs. NVIDIA's other functions
// (HDMI audio 0x0403, NVSwitch/bridges 0x0680, USB-C 0x0c03) are not, though lspci lists them too.
const GPU_CLASS_PREFIXES = ['0x0300', '0x0302'];
const NVIDIA_VENDOR_ID = '10de';
async function scanPci(root: string): Promise<PciScan> {
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

interface DriverVersionRead {
  version?: string;
  nouveau?: boolean;
  record: SourceRecord;
}

async function readProcDriverVersion(root: string): Promise<DriverVersionRead> {
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

async function readModuleDriverVersion(root: string): Promise<DriverVersionRead> {
  const text = await readOptional(path.join(root, 'sys', 'module', 'nvidia', 'version'));
  const version = text?.trim();
  if (version && /^\d+(\.\d+)+$/.test(version)) {
    return { version, record: { source: 'sys-module-version', ok: true, detail: version } };
  }
  const nouveau = (await readOptional(path.join(root, 'sys', 'module', 'nouveau', 'initstate'))) !== undefined;
  const detail = text === undefined ? '/sys/module/nvidia/version missing' : `unrecognised: ${version}`;
  return { nouveau, record: { source: 'sys-module-version', ok: false, detail: nouveau ? `${detail}; nouveau is loaded` : detail } };
}

interface DeviceNodes {
  usable: boolean;
  gpuNodes: string[];
  record: SourceRecord;
}

async function listDeviceNodes(root: string): Promise<DeviceNodes> {
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

// ---------------------------------------------------------------- Windows

/** GPUs the environment hides count as no GPU, whatever else was found. */
function hiddenDetection(base: Omit<Detection, 'cudaUsable' | 'reason'>, setting: string, hardware: string): Detection {
  return {
    ...base,
    cudaUsable: false,
    hiddenByEnv: setting,
    diagnosis: `GPUs hidden by ${setting}`,
    reason: `CUDA not usable: GPUs hidden by ${setting} (environment)${hardware ? `; present: ${hardware}` : ''}`,
  };
}

async function detectOnWindows(deps: DetectDeps): Promise<Detection> {
  const smi = await queryNvidiaSmi(deps);
  const hidden = hiddenByEnvironment(deps.env);
  const sources = [smiRecord(smi), hidden.record];
  const gpus = smi.kind === 'listed' ? smi.gpus : [];
  const driverVersion = gpus.find((gpu) => gpu.driverVersion)?.driverVersion;
  const base = { gpus, driverVersion, hardwarePresent: gpus.length > 0, sources };
  const hardware = describeHardware(gpus, []);
  if (hidden.setting) return hiddenDetection(base, hidden.setting, hardware);
  switch (smi.kind) {
    case 'listed':
      return { ...base, cudaUsable: true, reason: `found ${hardware} (nvidia-smi)${driverVersion ? `, driver ${driverVersion}` : ''}` };
    case 'not-installed':
      // Windows has no sysfs: without nvidia-smi.exe there is no NVIDIA driver to speak of.
      return { ...base, cudaUsable: false, reason: `no NVIDIA driver: nvidia-smi.exe not found (tried ${smi.tried.join(', ')})` };
    default: {
      const diagnosis = smiComplaint(smi);
      return { ...base, cudaUsable: false, diagnosis, reason: `CUDA not usable: ${diagnosis}` };
    }
  }
}

// ---------------------------------------------------------------- nvidia-smi

const QUERY_FIELDS = ['index', 'name', 'driver_version', 'compute_cap', 'memory.total', 'pci.bus_id'];
// Drivers before R510 have no compute_cap field and reject the whole query (exit 2).
const LEGACY_QUERY_FIELDS = QUERY_FIELDS.filter((field) => field !== 'compute_cap');

export function nvidiaSmiQueryArgs(fields: string[] = QUERY_FIELDS): string[] {
  return [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'];
}

type SmiOutcome =
  | { kind: 'listed'; program: string; gpus: GpuInfo[]; legacyQuery: boolean; skippedLines: number; exitCode: number; message: string }
  | { kind: 'not-installed'; tried: string[] }
  | { kind: 'cannot-start'; program: string; message: string }
  | { kind: 'timed-out'; program: string; timeoutMs: number }
  | { kind: 'failed'; program: string; exitCode: number; message: string }
  | { kind: 'no-gpus'; program: string; exitCode: number; message: string }
  | { kind: 'garbage'; program: string; sample: string };

async function queryNvidiaSmi(deps: DetectDeps): Promise<SmiOutcome> {
  const candidates = deps.nvidiaSmiCandidates ?? nvidiaSmiCandidatesFor(deps.platform, deps.env);
  const tried: string[] = [];
  for (const program of candidates) {
    const run = (fields: string[]): Promise<CommandResult> =>
      deps.run(program, nvidiaSmiQueryArgs(fields), { env: deps.env, timeoutMs: deps.nvidiaSmiTimeoutMs });
    let result = await run(QUERY_FIELDS);
    if (result.spawnError !== undefined) {
      if (isNotFound(result.spawnError)) {
        tried.push(program);
        continue;
      }
      return { kind: 'cannot-start', program, message: result.spawnError };
    }
    let legacyQuery = false;
    if (!result.timedOut && result.exitCode !== 0 && /compute_cap/.test(outputOf(result)) && /not a valid field/i.test(outputOf(result))) {
      legacyQuery = true;
      result = await run(LEGACY_QUERY_FIELDS);
    }
    return interpretQuery(program, result, legacyQuery ? LEGACY_QUERY_FIELDS : QUERY_FIELDS, legacyQuery, deps.nvidiaSmiTimeoutMs);
  }
  return { kind: 'not-installed', tried };
}

function interpretQuery(program: string, result: CommandResult, fields: string[], legacyQuery: boolean, timeoutMs: number): SmiOutcome {
  if (result.timedOut) return { kind: 'timed-out', program, timeoutMs };
  if (result.spawnError !== undefined) return { kind: 'cannot-start', program, message: result.spawnError };
  const message = firstMeaningfulLine(outputOf(result));
  const lines = result.stdout
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const gpus = lines.map((line) => parseQueryRow(line, fields)).filter((gpu): gpu is GpuInfo => gpu !== undefined);
  if (gpus.length > 0) {
    return { kind: 'listed', program, gpus, legacyQuery, skippedLines: lines.length - gpus.length, exitCode: result.exitCode, message };
  }
  // nvidia-smi prints its errors on stdout; "No devices were found" comes with exit 6.
  if (/no devices were found/i.test(outputOf(result)) || (result.exitCode === 0 && lines.length === 0)) {
    return { kind: 'no-gpus', program, exitCode: result.exitCode, message: message || 'empty output' };
  }
  if (result.exitCode !== 0) return { kind: 'failed', program, exitCode: result.exitCode, message: message || 'no output' };
  return { kind: 'garbage', program, sample: lines[0].slice(0, 120) };
}

function parseQueryRow(line: string, fields: string[]): GpuInfo | undefined {
  const values = line.split(',').map((value) => value.trim());
  if (values.length !== fields.length) return undefined;
  const field = (name: string): string | undefined => {
    const value = values[fields.indexOf(name)];
    // nounits still prints "[N/A]" / "[Not Supported]" for missing values.
    return value === undefined || value === '' || value.startsWith('[') ? undefined : value;
  };
  const index = field('index');
  const name = field('name');
  if (index === undefined || !/^\d+$/.test(index) || name === undefined) return undefined;
  const driverVersion = field('driver_version');
  const capability = field('compute_cap');
  const memory = field('memory.total');
  const busId = field('pci.bus_id');
  return {
    index: Number(index),
    name,
    busId: busId && /^[0-9a-f]+:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(busId) ? busId : undefined,
    computeCapability: capability && /^\d+\.\d$/.test(capability) ? capability : undefined,
    memoryMiB: memory && /^\d+$/.test(memory) ? Number(memory) : undefined,
    driverVersion: driverVersion && /^\d+(\.\d+)+$/.test(driverVersion) ? driverVersion : undefined,
  };
}

function smiRecord(smi: SmiOutcome): SourceRecord {
  switch (smi.kind) {
    case 'listed': {
      const rows = smi.gpus.map((gpu) => `${gpu.index}: ${gpu.name}${gpu.computeCapability ? ` (${gpu.computeCapability})` : ''}`);
      const notes = [
        smi.legacyQuery ? 'this nvidia-smi has no compute_cap field, capability unknown' : '',
        smi.skippedLines ? `${smi.skippedLines} unparsed line(s) skipped` : '',
        smi.exitCode !== 0 ? `exit ${smi.exitCode}: ${smi.message}` : '',
      ].filter(Boolean);
      return {
        source: 'nvidia-smi',
        ok: true,
        detail: `${smi.program}: ${smi.gpus.length} GPU(s): ${abbreviate(rows, 4)}${notes.length ? ` (${notes.join('; ')})` : ''}`,
      };
    }
    case 'not-installed':
      return { source: 'nvidia-smi', ok: false, detail: `not installed (tried ${smi.tried.join(', ')})` };
    case 'timed-out':
      return { source: 'nvidia-smi', ok: false, detail: `${smi.program}: no answer within ${seconds(smi.timeoutMs)} s, stopped` };
    default:
      return { source: 'nvidia-smi', ok: false, detail: smiComplaint(smi) };
  }
}

function smiComplaint(smi: SmiOutcome): string {
  switch (smi.kind) {
    case 'failed':
      return `nvidia-smi failed (exit ${smi.exitCode}): ${smi.message}`;
    case 'cannot-start':
      return `nvidia-smi could not be started: ${smi.message}`;
    case 'no-gpus':
      return `nvidia-smi listed no GPUs${smi.exitCode !== 0 ? ` (exit ${smi.exitCode}: ${smi.message})` : ''}`;
    case 'garbage':
      return `nvidia-smi printed no GPU rows: '${smi.sample}'`;
    case 'timed-out':
      return `nvidia-smi did not answer within ${seconds(smi.timeoutMs)} s (hung driver?)`;
    case 'not-installed':
      return 'nvidia-smi is not installed';
    case 'listed':
      return `nvidia-smi listed ${smi.gpus.length} GPU(s)`;
  }
}

function withPciIds(gpus: GpuInfo[], pciGpus: PciFunction[]): GpuInfo[] {
  return gpus.map((gpu) => {
    const match = gpu.busId ? pciGpus.find((fn) => sameBusAddress(fn.address, gpu.busId ?? '')) : undefined;
    return match ? { ...gpu, pciDeviceId: match.vendorDevice } : gpu;
  });
}

/** nvidia-smi writes '00000000:18:00.0', sysfs '0000:18:00.0'. */
function sameBusAddress(a: string, b: string): boolean {
  const normalize = (address: string): string => {
    const match = /^([0-9a-f]+):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i.exec(address.trim());
    return match ? `${parseInt(match[1], 16)}:${match[2]}:${match[3]}.${match[4]}`.toLowerCase() : address;
  };
  return normalize(a) === normalize(b);
}

// ---------------------------------------------------------------- environment

interface HiddenCheck {
  setting?: string;
  record: SourceRecord;
}

/**
 * NVIDIA_VISIBLE_DEVICES=void|none is the container toolkit's "no GPUs"; CUDA_VISIBLE_DEVICES
 * set but empty, or starting with -1, leaves the CUDA runtime no device (it stops at the first
 * invalid index). An empty NVIDIA_VISIBLE_DEVICES only matters when a container is created,
 * so it is not treated as hiding anything here.
 */
function hiddenByEnvironment(env: NodeJS.ProcessEnv): HiddenCheck {
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

// ---------------------------------------------------------------- helpers

function describeHardware(gpus: GpuInfo[] | undefined, pciGpus: PciFunction[]): string {
  const names = gpus?.length ? gpus.map((gpu) => gpu.name) : pciGpus.map((fn) => `NVIDIA GPU ${fn.vendorDevice}`);
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  return [...counts].map(([name, count]) => `${count} x ${name}`).join(', ');
}

function countBy(items: string[]): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([item, count]) => (count > 1 ? `${count} x ${item}` : item)).join(', ');
}

function abbreviate(items: string[], keep: number): string {
  return items.length <= keep ? items.join(', ') : `${items.slice(0, keep).join(', ')}, ... (${items.length - keep} more)`;
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

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? String(error);
}

function isNotFound(spawnError: string): boolean {
  return /ENOENT|not found|cannot find/i.test(spawnError);
}

function outputOf(result: CommandResult): string {
  return `${result.stdout}\n${result.stderr}`;
}

function firstMeaningfulLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .find(Boolean) ?? ''
  );
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
