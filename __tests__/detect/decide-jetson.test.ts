// A Jetson AGX Orin on JetPack 5.1.1 (L4T 35.3.1): the release file, device tree and /proc text
// are real captures (fixtures/README.md); JetPack 5 has no nvidia-smi, so libcuda answers.
import { detectGpu } from '../../src/detect/index.js';
import { linuxRoot, recordedMachine } from './doubles.js';

describe('a Jetson Orin with L4T 35.3.1 and no nvidia-smi', () => {
  it('is recognised as an integrated GPU whose L4T release is not a driver version', async () => {
    const machine = recordedMachine({ libcuda: 'reconstructed-jetson-agx-orin-jp5.exit0.txt' });
    const detection = await detectGpu(linuxRoot('jetson-orin-jetpack5', machine.run));
    expect(detection).toMatchObject({ cudaUsable: true, hardwarePresent: true, system: 'jetson', l4tRelease: '35.3.1' });
    expect(detection.driverVersion).toBeUndefined();
    expect(detection.gpus).toEqual([{ index: 0, name: 'Orin', computeCapability: '8.7', memoryMiB: 54793 }]);
    expect(detection.reason).toBe('found 1 x Orin (libcuda), Jetson/Tegra integrated GPU (L4T 35.3.1), CUDA 11.4');
    expect(detection).toMatchObject({ cudaDriverVersion: '11.4', cudaDriverVersionFrom: 'libcuda' });
    expect(detection.sources[0]).toEqual({
      source: 'tegra',
      ok: true,
      detail: 'Jetson/Tegra integrated GPU: L4T 35.3.1 (/etc/nv_tegra_release), SoC tegra234 (device tree)',
    });
    expect(machine.calls.map((call) => call.file)).toEqual(['nvidia-smi', 'python3']);
  });

  it('words a failure for a Jetson: no PCI bus talk, no "container without GPU access" guess, no driver version', async () => {
    const machine = recordedMachine({ libcuda: 'captured-here-no-libcuda.exit0.txt' });
    const detection = await detectGpu(linuxRoot('jetson-orin-jetpack5', machine.run));
    expect(detection.cudaUsable).toBe(false);
    expect(detection.driverVersion).toBeUndefined();
    expect(detection.diagnosis).toMatch(
      /^Jetson\/Tegra integrated GPU \(L4T 35\.3\.1\): no nvidia-smi \(none before JetPack 6\), and libcuda did not answer \(libcuda not found: .*\)\. CUDA on a Jetson comes from JetPack's L4T libraries; in a container, start it with --runtime nvidia$/,
    );
    expect(detection.diagnosis).not.toMatch(/PCI|container started without GPU access/);
    expect(detection.cudaDriverVersion).toBeUndefined();
    expect(detection.cudaDriverVersionDetail).toMatch(/^unknown; the driver did not say \(libcuda: libcuda not found/);
  });

  it('still counts GPUs hidden by the environment as none', async () => {
    const machine = recordedMachine({ libcuda: 'reconstructed-jetson-agx-orin-jp5.exit0.txt' });
    const detection = await detectGpu({ ...linuxRoot('jetson-orin-jetpack5', machine.run), env: { CUDA_VISIBLE_DEVICES: '-1' } });
    expect(detection).toMatchObject({ cudaUsable: false, hiddenByEnv: 'CUDA_VISIBLE_DEVICES=-1', system: 'jetson' });
  });
});
