import { compareParts, compareVersions, parseVersion } from '../src/version.js';

describe('compareVersions', () => {
  it.each([
    ['570.133.20', '570.26', 1],
    ['570.9', '570.26', -1], // a string compare would call this newer
    ['580', '580.0.0', 0],
    ['10.0', '9.9', 1],
    ['525.60.13', '525.60.13', 0],
    ['2.8.0+cu128', '2.10', -1],
  ])('%s vs %s -> %i', (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });

  it('orders pre-releases and dev builds before their release (PEP 440)', () => {
    const sorted = ['2.8.0', '2.8.0rc1', '2.8.0.dev20250101', '2.7.1', '2.8.0a2', '2.8.0.post1', '2.8.0b1'].sort(compareVersions);
    expect(sorted).toEqual(['2.7.1', '2.8.0.dev20250101', '2.8.0a2', '2.8.0b1', '2.8.0rc1', '2.8.0', '2.8.0.post1']);
    expect(compareVersions('2.8.0rc1', '2.8.0')).toBe(-1);
    expect(compareVersions('2.0.0b1', '2.0.0')).toBe(-1);
    expect(compareVersions('2.5.0.dev0', '2.3.0')).toBe(1);
  });

  it('compares driver versions, which are not PEP 440-canonical, number by number', () => {
    // Leading zeros and three or four components: what nvidia-smi and /proc report.
    expect(compareVersions('580.05.01', '580.5.1')).toBe(0);
    expect(compareVersions('580.05.01', '580.5')).toBe(1);
    expect(compareVersions('570.133.20', '570.133.07')).toBe(1);
    expect(compareVersions('470.256.02', '470.57.02')).toBe(1);
    expect(compareVersions('572.16.0.1', '572.16')).toBe(1);
  });

  it('falls back to the leading numbers for text PEP 440 rejects', () => {
    expect(compareVersions('570.86.10-ubuntu1', '570.86.10')).toBe(0);
    expect(compareVersions('v2.1', '2.1.0')).toBe(0);
  });

  it('refuses text that is not a version', () => {
    expect(() => compareVersions('latest', '1.0')).toThrow(RangeError);
    expect(() => compareVersions('1.0', '')).toThrow("not a version: ''");
  });
});

describe('parseVersion and compareParts', () => {
  it('reads the leading numbers and compares them with missing parts as 0', () => {
    expect(parseVersion('2.8.0+cu128')).toEqual([2, 8, 0]);
    expect(parseVersion(' v12.8')).toEqual([12, 8]);
    expect(parseVersion('cu128')).toBeUndefined();
    expect(compareParts([8, 6], [8, 6, 0])).toBe(0);
    expect(compareParts([7, 5], [8, 0])).toBe(-1);
    expect(compareParts([12], [9, 9])).toBe(1);
  });
});
