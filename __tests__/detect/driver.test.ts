import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseProcDriverVersion, readModuleDriverVersion, readProcDriverVersion } from '../../src/detect/driver.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const root = (name: string): string => path.join(FIXTURES, 'roots', name);

describe('recorded /proc/driver/nvidia/version texts', () => {
  const dir = path.join(FIXTURES, 'proc-driver-version');
  it.each(readdirSync(dir))('%s parses to the version in its name', (file) => {
    const version = /(\d+\.\d+\.\d+)/.exec(file)?.[1];
    expect(parseProcDriverVersion(readFileSync(path.join(dir, file), 'utf8'))).toBe(version);
  });

  it('reads nothing from unrelated text', () => {
    expect(parseProcDriverVersion('GCC version:  gcc version 13.3.0')).toBeUndefined();
  });
});

describe('reading the driver version from a root', () => {
  it('reads the open module from /proc and the same version from /sys/module', async () => {
    expect(await readProcDriverVersion(root('multi-h100-nvswitch'))).toMatchObject({
      version: '570.133.20',
      record: { source: 'proc-driver-version', ok: true, detail: '570.133.20 (open kernel module)' },
    });
    expect(await readModuleDriverVersion(root('multi-h100-nvswitch'))).toMatchObject({ version: '570.133.20', record: { ok: true } });
  });

  it('says the module is missing, and names nouveau where it is loaded', async () => {
    expect((await readProcDriverVersion(root('gtx1080-nouveau'))).record.detail).toBe('/proc/driver/nvidia/version missing (no NVIDIA kernel module loaded)');
    const module = await readModuleDriverVersion(root('gtx1080-nouveau'));
    expect(module.version).toBeUndefined();
    expect(module.nouveau).toBe(true);
    expect(module.record.detail).toBe('/sys/module/nvidia/version missing; nouveau is loaded');
  });
});
