import path from 'node:path';
import { readWsl } from '../../src/detect/wsl.js';
import { FIXTURES } from './doubles.js';

describe('readWsl', () => {
  it('recognises WSL2 from /dev/dxg, the WSL driver store and the Microsoft kernel', async () => {
    const wsl = await readWsl(path.join(FIXTURES, 'roots', 'wsl2-gpu'));
    expect(wsl).toEqual({
      isWsl: true,
      dxg: true,
      record: { source: 'wsl', ok: true, detail: 'WSL2: /dev/dxg present, /usr/lib/wsl/lib/libcuda.so.1, kernel 6.6.87.2-microsoft-standard-WSL2' },
    });
  });

  it.each(['t4-driver-535', 'jetson-orin-jetpack5', 'no-such-root'])('finds no WSL in %s', async (root) => {
    expect(await readWsl(path.join(FIXTURES, 'roots', root))).toEqual({ isWsl: false, dxg: false });
  });
});
