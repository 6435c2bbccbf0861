// Real captures from public sources (listed with their sources in fixtures/README.md), each
// tested against what its source states: driver, CUDA version, GPU names, failure kind.
import { newestCudaForDriver, newerThanDriverTable } from '../../src/cuda-driver.js';
import { chooseCudaVersion } from '../../src/detect/cuda-version.js';
import { detectGpu, parseProcDriverVersion, parseSmiHeader } from '../../src/detect/index.js';
import type { SmiHeader, SmiOutcome } from '../../src/detect/nvidia-smi.js';
import { fixture, linuxRoot, recordedMachine } from './doubles.js';

describe("the CUDA version in nvidia-smi's header, and what the driver table says for the same driver", () => {
  it.each([
    // file, the driver it shows, the CUDA version it shows
    ['table-captured-linux-h100-80gb-hbm3-590.48.01.exit0.txt', '590.48.01', '13.1'],
    ['table-captured-linux-h200-mig-590.48.01.exit0.txt', '590.48.01', '13.1'],
    ['table-captured-windows-rtx-2080-super-591.86.exit0.txt', '591.86', '13.1'],
    ['table-captured-linux-l40s-595.80.exit0.txt', '595.80', '13.2'],
    ['table-captured-linux-rtx-4080-super-595.71.05.exit0.txt', '595.71.05', '13.2'],
    ['table-captured-linux-rtx-2080-super-610.57.04.exit0.txt', '610.57.04', '13.3'],
    ['table-captured-windows-rtx-2080-super-610.62.exit0.txt', '610.62', '13.3'],
    ['table-issue-rtx4070-550.40.07.exit0.txt', '550.40.07', '12.4'],
    ['table-issue-wsl2-510.06.exit0.txt', '510.06', '11.6'],
    ['table-issue-wsl2-560.76.exit0.txt', '560.76', '12.6'],
    ['table-issue-tesla-v100-450.80.02.exit0.txt', '450.80.02', '11.0'],
    ['table-issue-jetson-orin-540.4.0.exit0.txt', '540.4.0', '12.6'],
  ])('%s: driver %s says CUDA %s, and so does the table', (file, driver, cuda) => {
    const text = fixture('nvidia-smi', file);
    expect(parseSmiHeader(text)).toEqual({ cudaVersion: cuda });
    expect(text).toContain(driver);
    if (!file.includes('jetson')) expect(newestCudaForDriver(driver)).toBe(cuda);
  });

  it('reads 13.4 from a driver newer than any table row, where the table only has a lower bound', () => {
    expect(parseSmiHeader(fixture('nvidia-smi', 'header-issue-windows-616.92.exit0.txt'))).toEqual({ cudaVersion: '13.4' });
    expect(newestCudaForDriver('616.92')).toBe('13.3');
    expect(newerThanDriverTable('616.92')).toBe(true);
  });

  it('says why where the header has no version: "ERR!" under WSL2, "N/A" driver on a Jetson still has one', () => {
    expect(parseSmiHeader(fixture('nvidia-smi', 'table-issue-wsl2-546.80-cuda-err.exit0.txt'))).toEqual({ failure: 'its header shows CUDA Version: ERR!' });
    expect(parseSmiHeader(fixture('nvidia-smi', 'table-issue-jetson-orin-540.3.0-driver-na.exit0.txt'))).toEqual({ cudaVersion: '12.2' });
  });
});

describe('only the driver table answers', () => {
  const listed = (header: SmiHeader): SmiOutcome => ({
    kind: 'listed',
    program: 'nvidia-smi',
    gpus: [{ index: 0, name: 'NVIDIA GeForce RTX 3060 Laptop GPU' }],
    legacyQuery: false,
    skippedLines: 0,
    exitCode: 0,
    message: '',
    header,
  });

  it('takes 12.3 for Windows driver 546.80 under WSL2, whose nvidia-smi shows "CUDA Version: ERR!"', () => {
    const header = parseSmiHeader(fixture('nvidia-smi', 'table-issue-wsl2-546.80-cuda-err.exit0.txt'));
    expect(chooseCudaVersion(listed(header), undefined, '546.80')).toEqual({
      cudaDriverVersion: '12.3',
      cudaDriverVersionFrom: 'driver-table',
      cudaDriverVersionDetail: "12.3 (driver table for 546.80); the driver did not say (nvidia-smi's header: its header shows CUDA Version: ERR!)",
    });
  });

  it('gives first-release driver 525.60.11 (open module, /proc) CUDA 12.0, not 11.8', () => {
    const driver = parseProcDriverVersion(fixture('proc-driver-version', 'captured-open-525.60.11-x86_64.txt'));
    expect(driver).toBe('525.60.11');
    const answer = chooseCudaVersion({ kind: 'not-installed', tried: ['nvidia-smi'] }, { kind: 'failed', message: 'libcuda not found' }, driver);
    expect(answer.cudaDriverVersion).toBe('12.0');
    expect(answer.cudaDriverVersionDetail).toBe('12.0 (driver table for 525.60.11); the driver did not say (libcuda: libcuda not found)');
  });

  it('gives R565 (565.57.01, open module) the 12.7 its nvidia-smi prints', () => {
    expect(newestCudaForDriver(parseProcDriverVersion(fixture('proc-driver-version', 'captured-open-565.57.01-x86_64.txt')) ?? '')).toBe('12.7');
  });
});

describe('detectGpu on recorded captures (nvidia_gpu_exporter, sysfs unreadable so nvidia-smi speaks alone)', () => {
  it.each([
    ['linux-h100-80gb-hbm3-590.48.01', 'linux', 'NVIDIA H100 80GB HBM3', '9.0', 81559, '590.48.01', '13.1'],
    ['linux-h200-mig-590.48.01', 'linux', 'NVIDIA H200', '9.0', 143771, '590.48.01', '13.1'],
    ['linux-l40s-595.80', 'linux', 'NVIDIA L40S', '8.9', 46068, '595.80', '13.2'],
    ['linux-rtx-2080-super-610.57.04', 'linux', 'NVIDIA GeForce RTX 2080 SUPER', '7.5', 8192, '610.57.04', '13.3'],
    ['windows-rtx-2080-super-591.86', 'win32', 'NVIDIA GeForce RTX 2080 SUPER', '7.5', 8192, '591.86', '13.1'],
    ['windows-rtx-2080-super-610.62', 'win32', 'NVIDIA GeForce RTX 2080 SUPER', '7.5', 8192, '610.62', '13.3'],
  ] as const)('%s', async (capture, platform, name, capability, memoryMiB, driver, cuda) => {
    const machine = recordedMachine({ query: [`query-captured-${capture}.exit0.csv`], table: `table-captured-${capture}.exit0.txt` });
    const detection = await detectGpu(linuxRoot('no-such-root', machine.run, platform));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus).toHaveLength(1);
    expect(detection.gpus[0]).toMatchObject({ name, computeCapability: capability, memoryMiB, driverVersion: driver });
    expect(detection.driverVersion).toBe(driver);
    expect(detection).toMatchObject({ cudaDriverVersion: cuda, cudaDriverVersionFrom: 'nvidia-smi', cudaDriverVersionDetail: `${cuda} (nvidia-smi's header)` });
    expect(detection.system).toBeUndefined();
  });

  it('diagnoses the version mismatch that a driver update leaves behind, and still names CUDA 12.2 from the table', async () => {
    const machine = recordedMachine({ query: ['failed-issue-version-mismatch-550.exit18.txt'] });
    const detection = await detectGpu(linuxRoot('t4-driver-535', machine.run));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe('driver 535.104.05 loaded but nvidia-smi failed (exit 18): Failed to initialize NVML: Driver/library version mismatch');
    expect(detection.cudaDriverVersion).toBe('12.2');
    expect(detection.cudaDriverVersionFrom).toBe('driver-table');
    expect(machine.calls.map((call) => call.file)).toEqual(['nvidia-smi']);
  });
});
