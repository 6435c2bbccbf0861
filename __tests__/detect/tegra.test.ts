import path from 'node:path';
import { isL4tRelease, parseL4tRelease, readTegra } from '../../src/detect/tegra.js';
import { FIXTURES, fixture } from './doubles.js';

describe('parseL4tRelease', () => {
  it('reads R35 REVISION 3.1 as 35.3.1 (the line jetson-containers quotes from /etc/nv_tegra_release)', () => {
    expect(parseL4tRelease(fixture('roots', 'jetson-orin-jetpack5', 'etc', 'nv_tegra_release'))).toBe('35.3.1');
  });

  it('reads nothing from other text', () => {
    expect(parseL4tRelease('NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  35.3.1')).toBeUndefined();
  });
});

describe('isL4tRelease', () => {
  it.each([
    ['35.3.1', '35.3.1', true],
    ['36.4.3', undefined, true],
    ['540.4.0', '36.4.3', false],
    ['535.104.05', undefined, false],
  ])('%s with L4T %s: %s', (version, l4t, expected) => {
    expect(isL4tRelease(version, l4t)).toBe(expected);
  });
});

describe('readTegra', () => {
  it('recognises a Jetson from its release file and device tree', async () => {
    const tegra = await readTegra(path.join(FIXTURES, 'roots', 'jetson-orin-jetpack5'));
    expect(tegra).toMatchObject({ isTegra: true, l4tRelease: '35.3.1', record: { source: 'tegra', ok: true } });
  });

  it('finds nothing on a PCI GPU machine', async () => {
    expect(await readTegra(path.join(FIXTURES, 'roots', 't4-driver-535'))).toEqual({ isTegra: false });
  });
});
