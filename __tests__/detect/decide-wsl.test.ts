// WSL2: /dev/dxg and /usr/lib/wsl/lib in a recorded root, nvidia-smi outputs captured under
// WSL2 (fixtures/README.md). The GPU is the Windows driver's; failures say so.
import { detectGpu } from '../../src/detect/index.js';
import { linuxRoot, recordedMachine } from './doubles.js';

describe('WSL2', () => {
  it('finds the GPU through nvidia-smi and takes CUDA 11.6 from its header (510.06, whose table row would say 11.5)', async () => {
    const machine = recordedMachine({ query: ['query-reconstructed-wsl2-gtx1650ti-510.06.exit0.csv'], table: 'table-issue-wsl2-510.06.exit0.txt' });
    const detection = await detectGpu(linuxRoot('wsl2-gpu', machine.run));
    expect(detection).toMatchObject({ cudaUsable: true, system: 'wsl2', driverVersion: '510.06', hardwarePresent: true });
    expect(detection.reason).toBe('found 1 x NVIDIA GeForce GTX 1650 Ti with Max-Q Design (nvidia-smi, WSL2 through /dev/dxg), Windows driver 510.06');
    expect(detection).toMatchObject({ cudaDriverVersion: '11.6', cudaDriverVersionFrom: 'nvidia-smi' });
    expect(detection.sources.map((record) => record.source)).toEqual(['wsl', 'nvidia-smi', 'environment']);
    expect(detection.sources[0].detail).toBe('WSL2: /dev/dxg present, /usr/lib/wsl/lib/libcuda.so.1, kernel 6.6.87.2-microsoft-standard-WSL2');
  });

  it.each([
    [
      'failed-issue-wsl2-gpu-access-blocked.exit255.txt',
      'WSL2: nvidia-smi failed (exit 255): Failed to initialize NVML: GPU access blocked by the operating system (Windows does not share this GPU with WSL). ',
    ],
    [
      'failed-issue-wsl2-driver-not-loaded.exit9.txt',
      "WSL2: nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running. ",
    ],
  ])('words %s for WSL, pointing at the Windows driver', async (recording, start) => {
    const machine = recordedMachine({ query: [recording], libcuda: 'captured-here-no-libcuda.exit0.txt' });
    const detection = await detectGpu(linuxRoot('wsl2-gpu', machine.run));
    expect(detection).toMatchObject({ cudaUsable: false, system: 'wsl2', hardwarePresent: false });
    expect(detection.diagnosis).toBe(
      `${start}WSL2 passes the GPU through /dev/dxg from the NVIDIA driver on Windows: install or update that driver on the Windows side (not inside the distribution), then restart WSL (wsl --shutdown)`,
    );
    expect(detection.reason).not.toMatch(/PCI|no NVIDIA driver loaded|kernel module/);
    expect(machine.calls.map((call) => call.file)).toEqual(['nvidia-smi', 'python3']);
  });

  it('asks libcuda where nvidia-smi is missing, and uses it when it sees the GPU', async () => {
    const machine = recordedMachine({ libcuda: 'reconstructed-wsl2-gtx1650ti.exit0.txt' });
    const detection = await detectGpu(linuxRoot('wsl2-gpu', machine.run));
    expect(machine.calls.map((call) => call.file)).toEqual(['nvidia-smi', expect.stringMatching(/usr\/lib\/wsl\/lib\/nvidia-smi$/), 'python3']);
    expect(detection).toMatchObject({ cudaUsable: true, cudaDriverVersion: '11.6', cudaDriverVersionFrom: 'libcuda' });
    expect(detection.reason).toBe('found 1 x NVIDIA GeForce GTX 1650 Ti with Max-Q Design (libcuda, WSL2 through /dev/dxg), CUDA 11.6');
  });
});
