import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sameBusAddress, scanPci } from '../../src/detect/sysfs.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

describe('scanPci', () => {
  it('keeps display and 3D controllers and names the other NVIDIA functions', async () => {
    const scan = await scanPci(path.join(FIXTURES, 'roots', 'gtx1080-nouveau'));
    expect(scan.gpus).toEqual([{ address: '0000:01:00.0', vendorDevice: '10de:1b80', classCode: '0x030000', driver: 'nouveau' }]);
    expect(scan.record.ok).toBe(true);
  });

  it('records an unreadable bus as not readable', async () => {
    const scan = await scanPci(path.join(FIXTURES, 'roots', 'no-such-root'));
    expect(scan).toMatchObject({ readable: false, gpus: [], summary: 'cannot read /sys/bus/pci/devices (ENOENT)' });
  });
});

describe('sameBusAddress', () => {
  it.each([
    ['00000000:18:00.0', '0000:18:00.0', true],
    ['00000000:2A:00.0', '0000:2a:00.0', true],
    ['00000000:2A:00.0', '0000:2a:00.1', false],
    ['garbage', 'garbage', true],
  ])('%s vs %s: %s', (a, b, same) => {
    expect(sameBusAddress(a, b)).toBe(same);
  });
});
