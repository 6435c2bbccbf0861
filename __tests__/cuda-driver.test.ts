import { cudaAtLeast, cudaDriverSupport, minimumDriverFor, newerThanDriverTable, newestCudaForDriver } from '../src/cuda-driver.js';

describe('the CUDA 13.x rows (CUDA release notes, Table 3; docs/gpu-detection.md)', () => {
  it.each([
    ['13.1', '590.44.01'],
    ['13.2', '595.45.04'],
    ['13.3', '610.43.02'],
  ])('CUDA %s GA needs Linux driver %s', (cuda, driver) => {
    expect(minimumDriverFor(cuda, 'linux')).toBe(driver);
    expect(cudaDriverSupport(driver, cuda, 'linux').level).toBe('full');
  });

  it('reads a Windows R590 driver (591.86, captured) as full support for 13.1', () => {
    expect(cudaDriverSupport('591.86', '13.1', 'win32').level).toBe('full');
  });
});

describe('newestCudaForDriver by branch', () => {
  it.each([
    ['525.60.11', '12.0'], // below 12.0's GA minimum 525.60.13, yet nvidia-smi prints 12.0
    ['550.40.07', '12.4'], // below 12.4's GA minimum 550.54.14
    ['510.06', '11.6'], // WSL2 preview driver, below 11.6's 510.39.01
    ['449.99', undefined],
  ])('%s -> %s', (driver, cuda) => {
    expect(newestCudaForDriver(driver)).toBe(cuda);
  });
});

describe('newerThanDriverTable', () => {
  it.each([
    ['616.92', true],
    ['610.57.04', false],
    ['535.104.05', false],
    ['x', false],
  ])('%s: %s', (driver, newer) => {
    expect(newerThanDriverTable(driver)).toBe(newer);
  });
});

describe('cudaAtLeast', () => {
  it.each([
    ['13.1', '13.0', true],
    ['12.10', '12.9', true],
    ['12.8', '13.0', false],
  ])('%s >= %s: %s', (a, b, expected) => {
    expect(cudaAtLeast(a, b)).toBe(expected);
  });
});
