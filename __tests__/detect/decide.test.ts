import { decide, type LinuxFacts } from '../../src/detect/decide.js';
import type { SmiOutcome } from '../../src/detect/nvidia-smi.js';

// Facts written by hand: decide() is pure, so each case states only what the sources said.
const T4 = { address: '0000:00:1e.0', vendorDevice: '10de:1eb8', classCode: '0x030200', driver: 'nvidia' };
const record = { source: 'sysfs-pci', ok: true, detail: '' } as const;

function linux(over: Partial<LinuxFacts>): LinuxFacts {
  return {
    platform: 'linux',
    pci: { readable: true, gpus: [T4], summary: '1 NVIDIA GPU function(s) on the PCI bus', record },
    procDriver: { version: '535.104.05', record: { ...record, source: 'proc-driver-version' } },
    moduleDriver: { version: '535.104.05', record: { ...record, source: 'sys-module-version' } },
    smi: { kind: 'not-installed', tried: ['nvidia-smi'] },
    nodes: { usable: true, gpuNodes: ['/dev/nvidia0'], record: { ...record, source: 'dev-nodes' } },
    hidden: { record: { ...record, source: 'environment' } },
    tegra: { isTegra: false },
    wsl: { isWsl: false, dxg: false },
    ...over,
  };
}

const listed: SmiOutcome = {
  kind: 'listed',
  program: 'nvidia-smi',
  gpus: [{ index: 0, name: 'Tesla T4', busId: '00000000:00:1E.0', driverVersion: '535.104.05' }],
  legacyQuery: false,
  skippedLines: 0,
  exitCode: 0,
  message: '',
  header: { cudaVersion: '12.2' },
};

describe('decide on Linux', () => {
  it('trusts GPUs nvidia-smi listed and joins their PCI ids', () => {
    const detection = decide(linux({ smi: listed }));
    expect(detection.cudaUsable).toBe(true);
    expect(detection.gpus[0].pciDeviceId).toBe('10de:1eb8');
    expect(detection.reason).toBe('found 1 x Tesla T4 (nvidia-smi), driver 535.104.05');
  });

  it.each([
    [
      { nodes: { usable: false, gpuNodes: [], record } },
      'driver 535.104.05 loaded but no /dev/nvidia* device nodes and no nvidia-smi (container started without GPU access?)',
    ],
    [{ pci: { readable: true, gpus: [], summary: 'none', record } }, 'driver 535.104.05 loaded but no NVIDIA GPU on the PCI bus, and no nvidia-smi to ask'],
    [
      { procDriver: { record }, moduleDriver: { nouveau: true, record } },
      'NVIDIA GPU on the PCI bus (10de:1eb8) but no driver loaded (/proc/driver/nvidia/version missing; nouveau is loaded instead)',
    ],
  ] as [Partial<LinuxFacts>, string][])('without nvidia-smi: %#', (over, diagnosis) => {
    const detection = decide(linux(over));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.diagnosis).toBe(diagnosis);
    expect(detection.reason).toBe(`CUDA not usable: ${diagnosis}`);
  });

  it('lets a hiding environment win over listed GPUs', () => {
    const detection = decide(linux({ smi: listed, hidden: { setting: 'CUDA_VISIBLE_DEVICES=-1', record } }));
    expect(detection).toMatchObject({ cudaUsable: false, hiddenByEnv: 'CUDA_VISIBLE_DEVICES=-1', hardwarePresent: true });
  });
});

describe('decide elsewhere', () => {
  it('says why there is no CUDA on FreeBSD without any source', () => {
    expect(decide({ platform: 'freebsd' })).toEqual({ cudaUsable: false, gpus: [], hardwarePresent: false, sources: [], reason: 'no CUDA support on freebsd' });
  });

  it('reads a Windows nvidia-smi failure as the diagnosis', () => {
    const detection = decide({ platform: 'win32', smi: { kind: 'failed', program: 'nvidia-smi.exe', exitCode: 9, message: 'x' }, hidden: { record } });
    expect(detection.diagnosis).toBe('nvidia-smi failed (exit 9): x');
  });
});
