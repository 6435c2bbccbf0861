import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listDeviceNodes } from '../../src/detect/devices.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

describe('listDeviceNodes', () => {
  it('lists GPU nodes in numeric order and needs nvidiactl beside them', async () => {
    const nodes = await listDeviceNodes(path.join(FIXTURES, 'roots', 'multi-h100-nvswitch'));
    expect(nodes.usable).toBe(true);
    expect(nodes.gpuNodes).toEqual(['/dev/nvidia0', '/dev/nvidia1', '/dev/nvidia2', '/dev/nvidia3']);
  });

  it('calls nvidiactl alone incomplete', async () => {
    const nodes = await listDeviceNodes(path.join(FIXTURES, 'roots', 'nvswitch-only'));
    expect(nodes).toMatchObject({ usable: false, gpuNodes: [] });
    expect(nodes.record.detail).toBe('/dev/nvidiactl (incomplete: needs nvidiactl and nvidiaN)');
  });

  it('records an unreadable /dev', async () => {
    const nodes = await listDeviceNodes(path.join(FIXTURES, 'roots', 'no-such-root'));
    expect(nodes.record).toEqual({ source: 'dev-nodes', ok: false, detail: 'cannot read /dev (ENOENT)' });
  });
});
