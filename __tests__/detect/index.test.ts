import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDetectDeps, detectGpu, nvidiaSmiCandidatesFor, nvidiaSmiQueryArgs, type DetectDeps, type Detection } from '../../src/detect/index.js';
import { runCommand, type CommandOptions, type CommandResult, type RunCommand } from '../../src/exec.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const LINUX_SOURCES = ['sysfs-pci', 'proc-driver-version', 'sys-module-version', 'nvidia-smi', 'dev-nodes', 'environment'];
const LEGACY_FIELDS = ['index', 'name', 'driver_version', 'memory.total', 'pci.bus_id'];

interface Call {
  file: string;
  args: string[];
  options?: CommandOptions;
}

function recording(name: string): CommandResult {
  const exit = /\.exit(\d+)\./.exec(name);
  if (!exit) throw new Error(`recording ${name} does not name its exit status`);
  return { exitCode: Number(exit[1]), stdout: readFileSync(path.join(FIXTURES, 'nvidia-smi', name), 'utf8'), stderr: '', timedOut: false };
}

/**
 * A double for nvidia-smi: replays recorded outputs (fixtures/nvidia-smi/<name>.exit<N>.<ext>)
 * instead of running anything: the --query-gpu calls get `recordings` in call order, a plain
 * `nvidia-smi` call (the header with the CUDA version) gets `table`. Without a `table` that
 * call fails the way a broken nvidia-smi would (exit 1), so the driver table has to answer.
 * When `installedAt` is given, any other program name fails to start the way spawn reports
 * a missing file.
 */
function recordedNvidiaSmi(recordings: string[], installedAt?: string, table?: string): { run: RunCommand; calls: Call[] } {
  const calls: Call[] = [];
  let replayed = 0;
  const run: RunCommand = async (file, args, options) => {
    calls.push({ file, args, options });
    if (installedAt !== undefined && file !== installedAt) return notFound(file);
    if (args.length === 0) {
      return table ? recording(table) : { exitCode: 1, stdout: '', stderr: 'TEST DOUBLE: no table recorded for this case', timedOut: false };
    }
    const name = recordings[replayed++];
    if (name === undefined) throw new Error(`nvidia-smi run ${replayed} times, only ${recordings.length} recording(s)`);
    return recording(name);
  };
  return { run, calls };
}

/** A double for a runner without nvidia-smi: every program is missing. */
function missingNvidiaSmi(): { run: RunCommand; calls: Call[] } {
  const calls: Call[] = [];
  const run: RunCommand = async (file, args, options) => {
    calls.push({ file, args, options });
    return notFound(file);
  };
  return { run, calls };
}

/** A double that replays one hand-written output (not a recording; for shapes no fixture has). */
function scriptedNvidiaSmi(result: Partial<CommandResult>): RunCommand {
  return async () => ({ exitCode: 0, stdout: '', stderr: '', timedOut: false, ...result });
}

function notFound(file: string): CommandResult {
  return { exitCode: -1, stdout: '', stderr: '', timedOut: false, spawnError: `spawn ${file} ENOENT` };
}

const mustNotRun: RunCommand = async (file) => {
  throw new Error(`${file} must not be run here`);
};

function linux(root: string, overrides: Partial<DetectDeps> = {}): DetectDeps {
  return { platform: 'linux', root: path.join(FIXTURES, 'roots', root), env: {}, run: mustNotRun, nvidiaSmiTimeoutMs: 10_000, ...overrides };
}

function sourceNames(detection: Detection): string[] {
  return detection.sources.map((record) => record.source);
}

function detail(detection: Detection, source: string): string {
  return detection.sources.find((record) => record.source === source)?.detail ?? '';
}

describe('detectGpu on Linux', () => {
  it('finds nothing on a CPU runner, where the only VGA function is not NVIDIA', async () => {
    const detection = await detectGpu(linux('cpu-runner', { run: missingNvidiaSmi().run }));
    expect(detection).toMatchObject({ cudaUsable: false, hardwarePresent: false, gpus: [] });
    expect(detection.diagnosis).toBeUndefined();
    expect(detection.driverVersion).toBeUndefined();
    expect(detection.reason).toBe('no NVIDIA GPU: no NVIDIA display or 3D controller among 5 PCI functions, no NVIDIA driver loaded, nvidia-smi not installed');
    expect(sourceNames(detection)).toEqual(LINUX_SOURCES);
    expect(detection.sources.map((record) => record.ok)).toEqual([false, false, false, false, false, true]);
  });

  it('does not diagnose a leftover nvidia-smi on a CPU runner', async () => {
    const detection = await detectGpu(linux('cpu-runner', { run: recordedNvidiaSmi(['failed-no-driver.exit9.txt']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBeUndefined();
    expect(detection.reason).toMatch(/^no NVIDIA GPU: .*\(nvidia-smi failed \(exit 9\): NVIDIA-SMI has failed/);
  });

  it('reports a T4 with its driver from nvidia-smi, joined to its PCI id', async () => {
    const smi = recordedNvidiaSmi(['query-t4-535.exit0.csv']);
    const detection = await detectGpu(linux('t4-driver-535', { run: smi.run }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus).toEqual([
      {
        index: 0,
        name: 'Tesla T4',
        busId: '00000000:00:1E.0',
        pciDeviceId: '10de:1eb8',
        computeCapability: '7.5',
        memoryMiB: 15360,
        driverVersion: '535.104.05',
      },
    ]);
    expect(detection.driverVersion).toBe('535.104.05');
    expect(detection.hardwarePresent).toBe(true);
    expect(detection.diagnosis).toBeUndefined();
    expect(detection.reason).toBe('found 1 x Tesla T4 (nvidia-smi), driver 535.104.05');
    // No table recorded for this T4: the header call fails, so the driver table answers.
    expect(detection).toMatchObject({ cudaDriverVersion: '12.2', cudaDriverVersionFrom: 'driver-table' });
    expect(detection.cudaDriverVersionDetail).toBe(
      "12.2 (driver table for 535.104.05); the driver did not say (nvidia-smi's header: exit 1: TEST DOUBLE: no table recorded for this case)",
    );
    expect(detection.sources.every((record) => record.ok)).toBe(true);
    expect(detail(detection, 'sysfs-pci')).toBe('1 NVIDIA GPU function(s) on the PCI bus: 0000:00:1e.0 10de:1eb8 (driver nvidia)');
    expect(detail(detection, 'proc-driver-version')).toBe('535.104.05 (proprietary kernel module)');
    expect(detail(detection, 'sys-module-version')).toBe('535.104.05');
    expect(detail(detection, 'dev-nodes')).toBe('/dev/nvidia0, /dev/nvidia-modeset, /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidiactl');
    expect(smi.calls).toEqual([
      { file: 'nvidia-smi', args: nvidiaSmiQueryArgs(), options: { env: {}, timeoutMs: 10_000 } },
      { file: 'nvidia-smi', args: [], options: { env: {}, timeoutMs: 10_000 } },
    ]);
    expect(smi.calls[0].args).toEqual(['--query-gpu=index,name,driver_version,compute_cap,memory.total,pci.bus_id', '--format=csv,noheader,nounits']);
  });

  it.each([
    ['a100-driver-550', 'query-a100-550.exit0.csv', 'NVIDIA A100-SXM4-40GB', '8.0', 40960, '550.54.15', '10de:20b0'],
    ['rtx4090-driver-560', 'query-rtx4090-560.exit0.csv', 'NVIDIA GeForce RTX 4090', '8.9', 24564, '560.35.03', '10de:2684'],
    ['gtx1080-driver-535', 'query-gtx1080-535.exit0.csv', 'NVIDIA GeForce GTX 1080', '6.1', 8192, '535.104.05', '10de:1b80'],
  ])('%s: %s lists one GPU', async (root, file, name, capability, memoryMiB, driver, pciDeviceId) => {
    const detection = await detectGpu(linux(root, { run: recordedNvidiaSmi([file]).run }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus).toHaveLength(1);
    expect(detection.gpus[0]).toMatchObject({ name, computeCapability: capability, memoryMiB, driverVersion: driver, pciDeviceId });
    expect(detection.reason).toBe(`found 1 x ${name} (nvidia-smi), driver ${driver}`);
  });

  it("does not count a consumer card's HDMI audio function as a second GPU", async () => {
    const detection = await detectGpu(linux('rtx4090-driver-560', { run: missingNvidiaSmi().run }));
    expect(detection.gpus.map((gpu) => gpu.pciDeviceId)).toEqual(['10de:2684']);
    expect(detail(detection, 'sysfs-pci')).toBe(
      '1 NVIDIA GPU function(s) on the PCI bus: 0000:01:00.0 10de:2684 (driver nvidia); not GPUs: 10de:22ba class 0x040300',
    );
  });

  it('diagnoses a GPU on the PCI bus with no driver loaded', async () => {
    const detection = await detectGpu(linux('h100-no-driver', { run: missingNvidiaSmi().run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.hardwarePresent).toBe(true);
    expect(detection.diagnosis).toBe('NVIDIA GPU on the PCI bus (10de:2330) but no driver loaded (/proc/driver/nvidia/version missing)');
    expect(detection.reason).toBe(`CUDA not usable: ${detection.diagnosis}`);
    expect(detection.gpus).toEqual([{ name: 'NVIDIA GPU 10de:2330', busId: '0000:00:05.0', pciDeviceId: '10de:2330', driverVersion: undefined }]);
    expect(detail(detection, 'sysfs-pci')).toContain('0000:00:05.0 10de:2330 (no driver bound)');
    expect(detail(detection, 'dev-nodes')).toBe('no /dev/nvidia* nodes');
  });

  it('adds what nvidia-smi said when it is installed but the driver is not loaded', async () => {
    const detection = await detectGpu(linux('h100-no-driver', { run: recordedNvidiaSmi(['failed-no-driver.exit9.txt']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe(
      "NVIDIA GPU on the PCI bus (10de:2330) but no driver loaded (/proc/driver/nvidia/version missing); nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    );
  });

  it('names nouveau when it holds the GPU instead of the NVIDIA driver', async () => {
    const detection = await detectGpu(linux('gtx1080-nouveau', { run: missingNvidiaSmi().run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe(
      'NVIDIA GPU on the PCI bus (10de:1b80) but no driver loaded (/proc/driver/nvidia/version missing; nouveau is loaded instead)',
    );
    expect(detail(detection, 'sysfs-pci')).toContain('0000:01:00.0 10de:1b80 (driver nouveau)');
  });

  it('diagnoses a loaded driver whose nvidia-smi fails', async () => {
    const detection = await detectGpu(linux('t4-driver-535', { run: recordedNvidiaSmi(['failed-no-driver.exit9.txt']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.hardwarePresent).toBe(true);
    expect(detection.driverVersion).toBe('535.104.05');
    expect(detection.diagnosis).toBe(
      "driver 535.104.05 loaded but nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
    );
    expect(detection.gpus).toEqual([{ name: 'NVIDIA GPU 10de:1eb8', busId: '0000:00:1e.0', pciDeviceId: '10de:1eb8', driverVersion: '535.104.05' }]);
    expect(detection.sources.find((record) => record.source === 'nvidia-smi')?.ok).toBe(false);
  });

  it('diagnoses nvidia-smi exiting 0 with no GPUs although the PCI bus has one', async () => {
    const detection = await detectGpu(linux('t4-driver-535', { run: recordedNvidiaSmi(['query-empty.exit0.csv']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('nvidia-smi listed no GPUs although the PCI bus shows 1 x NVIDIA GPU 10de:1eb8');
    expect(detail(detection, 'nvidia-smi')).toBe('nvidia-smi listed no GPUs');
  });

  it('diagnoses "No devices were found" where only NVSwitches are on the bus, without counting them', async () => {
    const detection = await detectGpu(linux('nvswitch-only', { run: recordedNvidiaSmi(['no-devices.exit6.txt']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.hardwarePresent).toBe(false);
    expect(detection.gpus).toEqual([]);
    expect(detection.diagnosis).toBe('nvidia-smi listed no GPUs (exit 6: No devices were found)');
    expect(detail(detection, 'sysfs-pci')).toBe('no NVIDIA display or 3D controller among 6 PCI functions; not GPUs: 4 x 10de:22a3 class 0x068000');
    expect(detail(detection, 'dev-nodes')).toBe('/dev/nvidiactl (incomplete: needs nvidiactl and nvidiaN)');
  });

  it('diagnoses output that has no GPU rows in it', async () => {
    // Hand-written: a status line where the csv rows should be.
    const run = scriptedNvidiaSmi({ stdout: 'Unable to determine the device handle for GPU0000:00:1E.0: Unknown Error\n' });
    const detection = await detectGpu(linux('t4-driver-535', { run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe(
      "driver 535.104.05 loaded but nvidia-smi printed no GPU rows: 'Unable to determine the device handle for GPU0000:00:1E.0: Unknown Error'",
    );
  });

  it('reports driver versions that disagree while still trusting the GPUs nvidia-smi listed', async () => {
    // Hand-written: nvidia-smi reporting another version than /proc (e.g. /proc from elsewhere).
    const run = scriptedNvidiaSmi({ stdout: '0, Tesla T4, 535.129.03, 7.5, 15360, 00000000:00:1E.0\n' });
    const detection = await detectGpu(linux('t4-driver-535', { run }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.driverVersion).toBe('535.129.03');
    expect(detection.diagnosis).toBe('driver versions disagree: the kernel module says 535.104.05, nvidia-smi says 535.129.03');
  });

  it('bounds a hanging nvidia-smi with the real runCommand timeout', async () => {
    // A real child that never answers stands in for a hung nvidia-smi; runCommand must kill it.
    const hang: RunCommand = (_file, _args, options) => runCommand(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], options);
    const started = Date.now();
    const detection = await detectGpu(linux('t4-driver-535', { run: hang, nvidiaSmiTimeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('nvidia-smi did not answer within 0.3 s (hung driver?)');
    expect(detail(detection, 'nvidia-smi')).toBe('nvidia-smi: no answer within 0.3 s, stopped');
  });

  it('diagnoses nvidia-smi failing with a driver/library version mismatch', async () => {
    // Hand-written: NVML refuses to start when the userspace library and kernel module differ.
    const run = scriptedNvidiaSmi({ exitCode: 18, stdout: 'Failed to initialize NVML: Driver/library version mismatch\n' });
    const detection = await detectGpu(linux('t4-driver-535', { run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('driver 535.104.05 loaded but nvidia-smi failed (exit 18): Failed to initialize NVML: Driver/library version mismatch');
  });

  it('words the production timeout in whole seconds', async () => {
    const detection = await detectGpu(linux('t4-driver-535', { run: scriptedNvidiaSmi({ exitCode: 128, timedOut: true }) }));
    expect(detection.diagnosis).toBe('nvidia-smi did not answer within 10 s (hung driver?)');
  });

  it.each([
    [{ NVIDIA_VISIBLE_DEVICES: 'void' }, 'NVIDIA_VISIBLE_DEVICES=void'],
    [{ NVIDIA_VISIBLE_DEVICES: 'none' }, 'NVIDIA_VISIBLE_DEVICES=none'],
    [{ CUDA_VISIBLE_DEVICES: '' }, 'CUDA_VISIBLE_DEVICES='],
    [{ CUDA_VISIBLE_DEVICES: '-1' }, 'CUDA_VISIBLE_DEVICES=-1'],
    [{ CUDA_VISIBLE_DEVICES: '-1,0' }, 'CUDA_VISIBLE_DEVICES=-1,0'],
    [{ NVIDIA_VISIBLE_DEVICES: 'all', CUDA_VISIBLE_DEVICES: '-1' }, 'CUDA_VISIBLE_DEVICES=-1'],
  ])('GPUs hidden by %j', async (env, setting) => {
    const detection = await detectGpu(linux('t4-driver-535', { env, run: recordedNvidiaSmi(['query-t4-535.exit0.csv']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.hiddenByEnv).toBe(setting);
    expect(detection.diagnosis).toBe(`GPUs hidden by ${setting}`);
    expect(detection.reason).toBe(`CUDA not usable: GPUs hidden by ${setting} (environment); present: 1 x Tesla T4`);
    expect(detection.hardwarePresent).toBe(true);
    expect(detection.sources.find((record) => record.source === 'environment')).toMatchObject({ ok: false });
  });

  it.each([[{ NVIDIA_VISIBLE_DEVICES: 'all', CUDA_VISIBLE_DEVICES: '0' }], [{ NVIDIA_VISIBLE_DEVICES: '' }], [{ CUDA_VISIBLE_DEVICES: '0,1' }]])(
    'GPUs not hidden by %j',
    async (env) => {
      const detection = await detectGpu(linux('t4-driver-535', { env, run: recordedNvidiaSmi(['query-t4-535.exit0.csv']).run }));
      expect(detection.cudaUsable).toBe(true);
      expect(detection.hiddenByEnv).toBeUndefined();
    },
  );

  it('reports a container started with NVIDIA_VISIBLE_DEVICES=void as hidden', async () => {
    const detection = await detectGpu(linux('container-without-gpu-access', { env: { NVIDIA_VISIBLE_DEVICES: 'void' }, run: missingNvidiaSmi().run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('GPUs hidden by NVIDIA_VISIBLE_DEVICES=void');
    expect(detection.reason).toBe('CUDA not usable: GPUs hidden by NVIDIA_VISIBLE_DEVICES=void (environment); present: 1 x NVIDIA GPU 10de:20b0');
    expect(detail(detection, 'environment')).toBe('NVIDIA_VISIBLE_DEVICES=void, CUDA_VISIBLE_DEVICES unset: hides all GPUs');
  });

  it('diagnoses a driver without device nodes when nothing in the environment explains it', async () => {
    const detection = await detectGpu(linux('container-without-gpu-access', { run: missingNvidiaSmi().run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('driver 550.54.15 loaded but no /dev/nvidia* device nodes and no nvidia-smi (container started without GPU access?)');
  });

  it('ignores an NVIDIA audio function alone', async () => {
    const detection = await detectGpu(linux('nvidia-audio-only', { run: missingNvidiaSmi().run }));
    expect(detection).toMatchObject({ cudaUsable: false, hardwarePresent: false, gpus: [] });
    expect(detection.diagnosis).toBeUndefined();
    expect(detail(detection, 'sysfs-pci')).toBe('no NVIDIA display or 3D controller among 3 PCI functions; not GPUs: 10de:10f0 class 0x040300');
  });

  it('lists 4 H100s and leaves the NVSwitches out', async () => {
    const smi = recordedNvidiaSmi(['query-h100x4-570.exit0.csv'], undefined, 'table-h100x4-570.exit0.txt');
    const detection = await detectGpu(linux('multi-h100-nvswitch', { run: smi.run }));
    expect(detection).toMatchObject({ cudaDriverVersion: '12.8', cudaDriverVersionFrom: 'nvidia-smi' });
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus.map((gpu) => [gpu.index, gpu.busId, gpu.pciDeviceId, gpu.computeCapability, gpu.memoryMiB])).toEqual([
      [0, '00000000:18:00.0', '10de:2330', '9.0', 81559],
      [1, '00000000:2A:00.0', '10de:2330', '9.0', 81559],
      [2, '00000000:3A:00.0', '10de:2330', '9.0', 81559],
      [3, '00000000:5D:00.0', '10de:2330', '9.0', 81559],
    ]);
    expect(detection.reason).toBe('found 4 x NVIDIA H100 80GB HBM3 (nvidia-smi), driver 570.133.20');
    expect(detail(detection, 'sysfs-pci')).toBe(
      '4 NVIDIA GPU function(s) on the PCI bus: 0000:18:00.0 10de:2330 (driver nvidia), 0000:2a:00.0 10de:2330 (driver nvidia), 0000:3a:00.0 10de:2330 (driver nvidia), 0000:5d:00.0 10de:2330 (driver nvidia); not GPUs: 4 x 10de:22a3 class 0x068000',
    );
    expect(detail(detection, 'proc-driver-version')).toBe('570.133.20 (open kernel module)');
    expect(detail(detection, 'dev-nodes')).toBe(
      '/dev/nvidia0, /dev/nvidia1, /dev/nvidia2, /dev/nvidia3, /dev/nvidia-modeset, /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidiactl',
    );
  });

  it('falls back to a query without compute_cap on drivers that reject it', async () => {
    const smi = recordedNvidiaSmi(['query-p100-470-compute-cap-invalid.exit2.txt', 'query-legacy-p100-470.exit0.csv'], undefined, 'table-p100-470.exit0.txt');
    const detection = await detectGpu(linux('p100-driver-470', { run: smi.run }));
    expect(smi.calls.map((call) => call.args)).toEqual([nvidiaSmiQueryArgs(), nvidiaSmiQueryArgs(LEGACY_FIELDS), []]);
    expect(smi.calls[1].args[0]).toBe('--query-gpu=index,name,driver_version,memory.total,pci.bus_id');
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus).toEqual([
      {
        index: 0,
        name: 'Tesla P100-PCIE-16GB',
        busId: '00000000:00:04.0',
        pciDeviceId: '10de:15f8',
        computeCapability: undefined,
        memoryMiB: 16280,
        driverVersion: '470.256.02',
      },
    ]);
    expect(detail(detection, 'nvidia-smi')).toBe(
      'nvidia-smi: 1 GPU(s): 0: Tesla P100-PCIE-16GB (this nvidia-smi has no compute_cap field, capability unknown)',
    );
  });

  it('assumes CUDA usable when the driver and device nodes exist but nvidia-smi is not installed', async () => {
    // The real runCommand, spawning a program that does not exist.
    const missing = path.join(os.tmpdir(), 'setup-poetry-torch-no-such-dir', 'nvidia-smi');
    const detection = await detectGpu(linux('t4-driver-535', { run: runCommand, nvidiaSmiCandidates: [missing] }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.driverVersion).toBe('535.104.05');
    expect(detection.diagnosis).toBe('nvidia-smi is not installed: CUDA assumed usable from the loaded driver and /dev/nvidia* nodes');
    expect(detection.reason).toBe(
      'found 1 x NVIDIA GPU 10de:1eb8 (sysfs-pci), driver 535.104.05 (proc-driver-version), /dev/nvidia0 present; nvidia-smi is not installed, so CUDA is assumed usable',
    );
    expect(detail(detection, 'nvidia-smi')).toBe(`not installed (tried ${missing})`);
  });

  it('takes the GPU list from PCI for a multi-GPU container without nvidia-smi', async () => {
    const detection = await detectGpu(linux('multi-h100-nvswitch', { run: missingNvidiaSmi().run }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus.map((gpu) => gpu.busId)).toEqual(['0000:18:00.0', '0000:2a:00.0', '0000:3a:00.0', '0000:5d:00.0']);
    expect(detection.reason).toMatch(
      /^found 4 x NVIDIA GPU 10de:2330 \(sysfs-pci\), driver 570\.133\.20 \(proc-driver-version\), \/dev\/nvidia0, \/dev\/nvidia1/,
    );
  });

  it('trusts nvidia-smi where sysfs cannot be read', async () => {
    const detection = await detectGpu(
      linux('t4-driver-535', { root: path.join(FIXTURES, 'roots', 'no-such-root'), run: recordedNvidiaSmi(['query-t4-535.exit0.csv']).run }),
    );
    expect(detection.cudaUsable).toBe(true);
    expect(detection.sources[0]).toEqual({ source: 'sysfs-pci', ok: false, detail: 'cannot read /sys/bus/pci/devices (ENOENT)' });
    expect(detection.gpus[0].pciDeviceId).toBeUndefined();
  });
});

describe('detectGpu on macOS', () => {
  it('says there is no CUDA without running anything', async () => {
    const detection = await detectGpu({ platform: 'darwin', root: '/', env: {}, run: mustNotRun, nvidiaSmiTimeoutMs: 10_000 });
    expect(detection).toEqual({
      cudaUsable: false,
      gpus: [],
      hardwarePresent: false,
      sources: [],
      reason: 'no CUDA on macOS (NVIDIA stopped at CUDA 10.2 there and PyTorch has no CUDA builds for it)',
    });
  });
});

describe('detectGpu on Windows', () => {
  const windows = (overrides: Partial<DetectDeps>): DetectDeps => ({
    platform: 'win32',
    // Never read on Windows: a root that does not exist proves it.
    root: path.join(FIXTURES, 'roots', 'no-such-root'),
    env: { SystemRoot: 'C:\\Windows' },
    run: mustNotRun,
    nvidiaSmiTimeoutMs: 10_000,
    ...overrides,
  });

  it('finds nvidia-smi.exe in System32 when it is not on PATH', async () => {
    const smi = recordedNvidiaSmi(['query-windows-rtx4090-560.exit0.csv'], 'C:\\Windows\\System32\\nvidia-smi.exe');
    const detection = await detectGpu(windows({ run: smi.run }));
    expect(smi.calls.map((call) => call.file)).toEqual(['nvidia-smi.exe', 'C:\\Windows\\System32\\nvidia-smi.exe', 'C:\\Windows\\System32\\nvidia-smi.exe']);
    expect(detection.cudaUsable).toBe(true);
    expect(detection.driverVersion).toBe('560.94');
    expect(detection.gpus).toEqual([
      { index: 0, name: 'NVIDIA GeForce RTX 4090', busId: '00000000:01:00.0', computeCapability: '8.9', memoryMiB: 24564, driverVersion: '560.94' },
    ]);
    expect(detection.reason).toBe('found 1 x NVIDIA GeForce RTX 4090 (nvidia-smi), driver 560.94');
    expect(sourceNames(detection)).toEqual(['nvidia-smi', 'environment']);
  });

  it('reports every candidate it tried when nvidia-smi.exe is nowhere', async () => {
    const smi = missingNvidiaSmi();
    const detection = await detectGpu(windows({ env: { SystemRoot: 'D:\\WINDOWS' }, run: smi.run }));
    const expected = ['nvidia-smi.exe', 'D:\\WINDOWS\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'];
    expect(smi.calls.map((call) => call.file)).toEqual(expected);
    expect(detection).toMatchObject({ cudaUsable: false, hardwarePresent: false, gpus: [] });
    expect(detection.diagnosis).toBeUndefined();
    expect(detection.reason).toBe(`no NVIDIA driver: nvidia-smi.exe not found (tried ${expected.join(', ')})`);
  });

  it('diagnoses a failing nvidia-smi.exe', async () => {
    const detection = await detectGpu(windows({ run: recordedNvidiaSmi(['failed-no-driver.exit9.txt']).run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toMatch(/^nvidia-smi failed \(exit 9\): NVIDIA-SMI has failed/);
  });

  it('honours CUDA_VISIBLE_DEVICES=-1', async () => {
    const run = recordedNvidiaSmi(['query-windows-rtx4090-560.exit0.csv']).run;
    const detection = await detectGpu(windows({ env: { SystemRoot: 'C:\\Windows', CUDA_VISIBLE_DEVICES: '-1' }, run }));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.hiddenByEnv).toBe('CUDA_VISIBLE_DEVICES=-1');
    expect(detection.hardwarePresent).toBe(true);
  });
});

describe('defaults', () => {
  it('uses the real system and runner', () => {
    const deps = defaultDetectDeps();
    expect(deps).toMatchObject({ platform: process.platform, root: '/', env: process.env, nvidiaSmiTimeoutMs: 10_000 });
    expect(deps.run).toBe(runCommand);
    expect(deps.nvidiaSmiCandidates).toBeUndefined();
  });

  it.each([
    ['linux', {}, ['nvidia-smi']],
    ['win32', {}, ['nvidia-smi.exe', 'C:\\Windows\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe']],
    [
      'win32',
      { SYSTEMROOT: 'E:\\Win' },
      ['nvidia-smi.exe', 'E:\\Win\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'],
    ],
    [
      'win32',
      { SystemRoot: 'D:\\WINDOWS' },
      ['nvidia-smi.exe', 'D:\\WINDOWS\\System32\\nvidia-smi.exe', 'C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe'],
    ],
    ['linux', { SystemRoot: 'C:\\Windows' }, ['nvidia-smi']],
    ['darwin', {}, ['nvidia-smi']],
  ] as const)('nvidia-smi candidates on %s with %j', (platform, env, expected) => {
    expect(nvidiaSmiCandidatesFor(platform, env)).toEqual(expected);
  });
});

describe('the nvidia-smi recordings agree with each other', () => {
  const read = (name: string): string => readFileSync(path.join(FIXTURES, 'nvidia-smi', name), 'utf8');
  const csvRows = (name: string): string[][] =>
    read(name)
      .trim()
      .split(/\r?\n/)
      .map((line) => line.split(', '));

  it.each([
    ['table-h100x4-570.exit0.txt', 'query-h100x4-570.exit0.csv', 'list-h100x4-570.exit0.txt', '12.8'],
    ['table-p100-470.exit0.txt', 'query-legacy-p100-470.exit0.csv', undefined, '11.4'],
  ])('%s matches %s', (table, query, list, cudaVersion) => {
    const header = /Driver Version: (\S+)\s+CUDA Version: (\S+)/.exec(read(table));
    const rows = csvRows(query);
    expect(header?.[1]).toBe(rows[0][2]);
    expect(header?.[2]).toBe(cudaVersion);
    const busIds = [...read(table).matchAll(/(0{8}:[0-9A-F]{2}:[0-9A-F]{2}\.\d)/g)].map((match) => match[1]);
    expect(busIds).toEqual(rows.map((row) => row[row.length - 1]));
    if (list) {
      expect([...read(list).matchAll(/^GPU (\d+): (.+) \(UUID: GPU-[0-9a-f-]{36}\)$/gm)].map((match) => [match[1], match[2]])).toEqual(
        rows.map((row) => [row[0], row[1]]),
      );
    }
  });

  it('every query recording has the column count of its query', () => {
    for (const name of readdirSync(path.join(FIXTURES, 'nvidia-smi')).filter((file) => file.endsWith('.csv') && read(file).trim())) {
      const columns = name.startsWith('query-legacy-') ? LEGACY_FIELDS.length : 6;
      for (const row of csvRows(name)) expect([name, row.length]).toEqual([name, columns]);
    }
  });
});
