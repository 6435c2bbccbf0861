import {
  capabilityInArchList,
  checkCapability,
  compatibilityFloorFor,
  cudaDriverSupport,
  cudaFromLocalLabel,
  expectedArchs,
  minimumDriverFor,
  newestCudaForDriver,
} from '../src/cuda.js';

describe('minimumDriverFor (per-release toolkit minimum)', () => {
  it.each([
    ['13.0', 'linux', '580.65.06'],
    ['12.9', 'linux', '575.51.03'],
    ['12.8', 'linux', '570.26'],
    ['12.6', 'linux', '560.28.03'],
    ['12.4', 'linux', '550.54.14'],
    ['12.0', 'linux', '525.60.13'],
    ['11.8', 'linux', '520.61.05'],
    ['12.8', 'win32', '570.65'],
    ['12.6', 'win32', '560.76'],
    ['12.0', 'win32', '527.41'],
    ['11.8', 'win32', '520.06'],
  ] as const)('CUDA %s on %s needs %s', (cuda, platform, driver) => {
    expect(minimumDriverFor(cuda, platform)).toBe(driver);
  });

  it.each([
    ['13.4', '610.43.02'],
    ['12.7', '560.28.03'],
    ['14.0', '610.43.02'],
  ])('CUDA %s, not in the table, gets the lower bound %s', (cuda, driver) => {
    expect(minimumDriverFor(cuda, 'linux')).toBe(driver);
  });

  it.each(['10.2', 'cuda'])('refuses %s', (cuda) => {
    expect(() => minimumDriverFor(cuda, 'linux')).toThrow(RangeError);
  });

  it.each(['linux', 'win32'] as const)('round-trips with newestCudaForDriver for every release on %s', (platform) => {
    const releases = [
      '11.0',
      '11.1',
      '11.2',
      '11.3',
      '11.4',
      '11.5',
      '11.6',
      '11.7',
      '11.8',
      '12.0',
      '12.1',
      '12.2',
      '12.3',
      '12.4',
      '12.5',
      '12.6',
      '12.8',
      '12.9',
      '13.0',
      '13.1',
      '13.2',
      '13.3',
    ];
    for (const cuda of releases) expect(newestCudaForDriver(minimumDriverFor(cuda, platform))).toBe(cuda);
  });
});

describe('compatibilityFloorFor (minor-version compatibility)', () => {
  it.each([
    ['13.0', 'linux', '580'],
    ['13.2', 'win32', '580'],
    ['12.8', 'linux', '525.60.13'],
    ['12.1', 'win32', '528.33'],
    ['11.8', 'linux', '450.80.02'],
    ['11.4', 'win32', '452.39'],
    ['14.0', 'linux', undefined],
  ] as const)('CUDA %s on %s -> %s', (cuda, platform, floor) => {
    expect(compatibilityFloorFor(cuda, platform)).toBe(floor);
  });
});

describe('newestCudaForDriver', () => {
  // What nvidia-smi prints for these drivers goes by branch (issue 13); the real captures
  // behind several rows are tested in detect/captures.test.ts.
  it.each([
    ['610.57.04', '13.3'],
    ['610.62', '13.3'],
    ['595.80', '13.2'],
    ['595.71.05', '13.2'],
    ['591.86', '13.1'],
    ['590.48.01', '13.1'],
    ['590.44.01', '13.1'],
    ['580.65.06', '13.0'],
    ['575.51.03', '12.9'],
    ['570.133.20', '12.8'],
    ['570.9', '12.8'],
    ['565.57.01', '12.7'],
    ['560.94', '12.6'],
    ['550.40.07', '12.4'],
    ['546.80', '12.3'],
    ['535.104.05', '12.2'],
    ['528.33', '12.0'],
    ['525.60.11', '12.0'],
    ['510.06', '11.6'],
    ['470.256.02', '11.4'],
    ['450.80.02', '11.0'],
    ['440.33', undefined],
    ['not-a-driver', undefined],
  ] as const)('driver %s -> CUDA %s', (driver, cuda) => {
    expect(newestCudaForDriver(driver)).toBe(cuda);
  });
});

describe('cudaDriverSupport', () => {
  it.each([
    ['570.133.20', '12.8', 'linux', 'full'],
    ['535.104.05', '12.8', 'linux', 'compatible'],
    ['525.60.13', '12.9', 'linux', 'compatible'],
    ['525.60.12', '12.4', 'linux', 'too-old'],
    ['535.104.05', '13.0', 'linux', 'too-old'],
    ['580.10', '13.0', 'linux', 'compatible'],
    ['470.256.02', '11.8', 'linux', 'compatible'],
    ['470.256.02', '12.6', 'linux', 'too-old'],
    ['528.33', '12.8', 'win32', 'compatible'],
    // 12.0 GA's own Windows minimum sits below the 12.x compatibility floor.
    ['527.41', '12.0', 'win32', 'full'],
  ] as const)('driver %s with CUDA %s on %s: %s', (driver, cuda, platform, level) => {
    expect(cudaDriverSupport(driver, cuda, platform).level).toBe(level);
  });

  it('names both thresholds in its message', () => {
    expect(cudaDriverSupport('535.104.05', '12.8', 'linux').message).toBe(
      'driver 535.104.05 runs CUDA 12.8 through minor-version compatibility (12.x needs 525.60.13; full support from 570.26)',
    );
    expect(cudaDriverSupport('535.104.05', '13.0', 'linux').message).toBe('driver 535.104.05 is too old for CUDA 13.0: it needs at least 580');
  });
});

describe('cudaFromLocalLabel', () => {
  it.each([
    ['cu128', '12.8'],
    ['cu130', '13.0'],
    ['cu118', '11.8'],
    ['cu126', '12.6'],
    ['cu92', '9.2'],
    ['CU121', '12.1'],
    ['2.7.0+cu128', '12.8'],
  ])('%s -> %s', (label, cuda) => {
    expect(cudaFromLocalLabel(label)).toBe(cuda);
  });

  it.each(['cpu', 'rocm6.2', 'xpu', '', 'cu', 'cuda', '2.7.0+cpu'])('%j is not a CUDA label', (label) => {
    expect(cudaFromLocalLabel(label)).toBeUndefined();
  });
});

describe('expectedArchs', () => {
  it.each([
    ['2.7.0', 'cu126', '5.0', '9.0', true],
    ['2.11.0', 'cu126', '5.0', '9.0', true],
    ['2.7.1', 'cu128', '7.5', '12.0', true],
    ['2.8.0', 'cu128', '7.0', '12.0', true],
    ['2.8.0', 'cu129', '7.0', undefined, true],
    ['2.10.0', 'cu128', '7.0', '12.0', true],
    ['2.11.0', 'cu128', '7.5', '12.0', true],
    ['2.9.0', 'cu130', '7.5', undefined, true],
    ['2.12.0', 'cu132', '7.5', undefined, false],
    ['2.7.0', 'cu118', '5.0', '9.0', false],
    ['2.5.1', 'cu124', '5.0', '9.0', false],
    ['1.13.1', 'cu117', '3.7', '8.6', false],
    ['unknown', 'cu128', '7.5', '12.0', false],
  ] as const)('torch %s %s: sm %s to %s, certain %s', (torch, label, min, max, certain) => {
    const archs = expectedArchs(torch, label);
    expect(archs.minCapability).toBe(min);
    expect(archs.maxCapability).toBe(max);
    expect(archs.certain).toBe(certain);
  });

  it('gives the arch list torch reports for 2.11 cu128 (measured in pytorch/pytorch#182250)', () => {
    expect(expectedArchs('2.11.0', 'cu128').archList).toEqual(['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120']);
  });

  it('refuses a label that is not a CUDA build', () => {
    expect(() => expectedArchs('2.8.0', 'cpu')).toThrow(RangeError);
  });
});

describe('capabilityInArchList', () => {
  it.each([
    ['8.6', ['sm_86'], true],
    ['8.6', ['sm_80'], true], // same major, newer minor runs older SASS
    ['8.9', ['sm_80', 'sm_86'], true],
    ['8.0', ['sm_86'], false], // never the other way round
    ['9.0', ['sm_80', 'sm_86'], false], // nor across majors
    ['12.0', ['sm_50', 'sm_60', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'sm_90'], false],
    ['6.1', ['sm_75', 'sm_80'], false],
    ['9.0', ['sm_90a'], true],
    ['10.3', ['sm_100a'], false], // arch-specific SASS runs on exactly that arch
    ['10.3', ['sm_100f'], true], // family-specific runs within the family
    ['12.0', ['sm_90', 'compute_90'], true], // PTX is JIT-compiled forward
    ['13.0', ['sm_120', 'compute_120'], true],
    ['8.6', ['compute_90'], false], // but not backward
    ['10.0', ['compute_90a'], false],
    ['7.5', ['gfx900', 'sm_75'], true],
    ['12.0', [], false],
  ])('%s in %j -> %s', (capability, archList, expected) => {
    expect(capabilityInArchList(capability, archList)).toBe(expected);
  });

  it('refuses a capability that is not major.minor', () => {
    expect(() => capabilityInArchList('sm_86', ['sm_86'])).toThrow(RangeError);
  });
});

describe('checkCapability', () => {
  it.each([
    ['6.1', '2.9.0', 'cu130', 'unsupported'], // Pascal: CUDA 13 dropped it
    ['6.1', '2.8.0', 'cu128', 'unsupported'],
    ['7.0', '2.8.0', 'cu128', 'ok'], // Volta kept in 2.8-2.10 cu128
    ['7.0', '2.11.0', 'cu128', 'unsupported'],
    ['7.0', '2.7.1', 'cu128', 'unsupported'],
    ['6.1', '2.9.0', 'cu126', 'ok'],
    ['12.0', '2.7.0', 'cu126', 'unsupported'], // Blackwell: no kernels in cu126
    ['10.0', '2.9.0', 'cu126', 'unsupported'],
    ['8.9', '2.8.0', 'cu128', 'ok'],
    ['10.3', '2.8.0', 'cu128', 'ok'],
    ['11.0', '2.11.0', 'cu128', 'unsupported'], // between sm_100 and sm_120, neither runs it
    ['12.1', '2.9.0', 'cu130', 'ok'],
    ['13.0', '2.9.0', 'cu130', 'ok'], // through compute_120 PTX
    ['3.7', '2.7.0', 'cu118', 'likely-unsupported'],
    ['6.1', '2.7.0', 'cu118', 'ok'],
    ['10.0', '2.5.1', 'cu124', 'likely-unsupported'],
    ['7.0', '2.12.0', 'cu132', 'unsupported'], // the list is an estimate, the CUDA 13 floor is not
    ['7.5', '2.9.0', 'cpu', 'ok'],
  ] as const)('sm %s on torch %s %s: %s', (capability, torch, label, verdict) => {
    expect(checkCapability(capability, torch, label).verdict).toBe(verdict);
  });

  it('explains an unsupported GPU and where to go instead', () => {
    expect(checkCapability('6.1', '2.9.0', 'cu130').message).toBe(
      "GPU sm_61 (compute capability 6.1) is not among the architectures torch 2.9.0 cu130 is built for (sm_75 and newer): PyTorch's cu126 builds still cover sm_50 to sm_90",
    );
    expect(checkCapability('12.0', '2.7.0', 'cu126').message).toBe(
      'GPU sm_120 (compute capability 12.0) is not among the architectures torch 2.7.0 cu126 is built for (sm_50 to sm_90): Blackwell GPUs need a cu128 or newer build',
    );
  });

  it('says when the verdict rests on an estimate', () => {
    expect(checkCapability('3.7', '2.7.0', 'cu118').message).toMatch(
      /is probably not among .* \(sm_50 to sm_90, estimated\): no current PyTorch CUDA build supports this GPU$/,
    );
  });

  it('accepts the wheel version with its local label', () => {
    expect(checkCapability('7.0', '2.11.0+cu128', 'cu128')).toEqual({
      verdict: 'unsupported',
      message:
        "GPU sm_70 (compute capability 7.0) is not among the architectures torch 2.11.0 cu128 is built for (sm_75 to sm_120): PyTorch's cu126 builds still cover sm_50 to sm_90",
    });
  });

  it('names the coverage of a supported GPU', () => {
    expect(checkCapability('8.6', '2.8.0', 'cu128').message).toBe('GPU sm_86 (compute capability 8.6) is covered by torch 2.8.0 cu128 (sm_70 to sm_120)');
  });
});
