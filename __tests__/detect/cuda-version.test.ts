import { chooseCudaVersion } from '../../src/detect/cuda-version.js';
import type { SmiOutcome } from '../../src/detect/nvidia-smi.js';

const listed = (header: { cudaVersion?: string; failure?: string }): SmiOutcome => ({
  kind: 'listed',
  program: 'nvidia-smi',
  gpus: [{ index: 0, name: 'Tesla T4' }],
  legacyQuery: false,
  skippedLines: 0,
  exitCode: 0,
  message: '',
  header,
});

describe('chooseCudaVersion', () => {
  it("prefers nvidia-smi's header over libcuda and the table", () => {
    expect(chooseCudaVersion(listed({ cudaVersion: '13.4' }), { kind: 'answered', cudaVersion: '13.3', devices: [] }, '616.92')).toEqual({
      cudaDriverVersion: '13.4',
      cudaDriverVersionFrom: 'nvidia-smi',
      cudaDriverVersionDetail: "13.4 (nvidia-smi's header)",
    });
  });

  it('takes libcuda where nvidia-smi is missing', () => {
    expect(
      chooseCudaVersion({ kind: 'not-installed', tried: ['nvidia-smi'] }, { kind: 'answered', cudaVersion: '12.2', devices: [] }, '535.104.05'),
    ).toMatchObject({
      cudaDriverVersion: '12.2',
      cudaDriverVersionFrom: 'libcuda',
    });
  });

  it('says the table is only a lower bound for a driver newer than it', () => {
    expect(chooseCudaVersion(listed({ failure: 'exit 1: x' }), undefined, '616.92').cudaDriverVersionDetail).toBe(
      "13.3 (driver table for 616.92, at least: the driver is newer than the table); the driver did not say (nvidia-smi's header: exit 1: x)",
    );
  });

  it('leaves the version unknown without a driver, or below the table', () => {
    expect(chooseCudaVersion(undefined, undefined, undefined)).toEqual({ cudaDriverVersionDetail: 'unknown' });
    expect(chooseCudaVersion(undefined, undefined, '440.33')).toEqual({ cudaDriverVersionDetail: 'unknown (driver 440.33 is older than the driver table)' });
  });
});
