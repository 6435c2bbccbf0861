import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { askLibcuda, libcudaRecord, pythonFor } from '../../src/detect/libcuda.js';
import { runCommand } from '../../src/exec.js';
import { FIXTURES, linuxRoot, recordedMachine } from './doubles.js';

describe('askLibcuda', () => {
  it('runs the real cuda_driver.py with the real python3: this machine has no libcuda, and it says so', async () => {
    const answer = await askLibcuda(linuxRoot('no-such-root', runCommand));
    expect(answer.kind).toBe('failed');
    expect(answer.kind === 'failed' ? answer.message : '').toMatch(/^libcuda not found: libcuda\.so\.1: /);
    expect(libcudaRecord(answer)).toMatchObject({ source: 'libcuda', ok: false });
  });

  it('reads a report with devices (replayed)', async () => {
    const answer = await askLibcuda(linuxRoot('no-such-root', recordedMachine({ libcuda: 'reconstructed-jetson-agx-orin-jp5.exit0.txt' }).run));
    expect(answer).toEqual({
      kind: 'answered',
      cudaVersion: '11.4',
      devices: [{ index: 0, name: 'Orin', computeCapability: '8.7', memoryMiB: 54793 }],
      initError: undefined,
    });
    expect(libcudaRecord(answer)).toEqual({ source: 'libcuda', ok: true, detail: 'cuDriverGetVersion: CUDA 11.4; 1 device(s): 0: Orin (8.7)' });
  });

  it('says when python3 cannot be started', async () => {
    const answer = await askLibcuda(linuxRoot('no-such-root', recordedMachine({}).run));
    expect(answer).toEqual({ kind: 'failed', message: 'python3 could not be started (spawn python3 ENOENT)' });
  });

  it('says when the script printed no report', async () => {
    const answer = await askLibcuda(
      linuxRoot('no-such-root', async () => ({ exitCode: 1, stdout: '', stderr: 'SyntaxError: invalid syntax', timedOut: false })),
    );
    expect(answer).toEqual({ kind: 'failed', message: 'cuda_driver.py printed no report (exit 1: SyntaxError: invalid syntax)' });
  });

  it('uses python on Windows, python3 elsewhere', () => {
    expect([pythonFor('win32'), pythonFor('linux')]).toEqual(['python', 'python3']);
  });
});

describe('cuda_driver.py against a libcuda double (real python3, real ctypes calls, a C stand-in for the driver)', () => {
  let libDir = '';
  beforeAll(() => {
    // Built here with the system C compiler: the unit tests run on Linux (CI: ubuntu-latest).
    libDir = mkdtempSync(path.join(os.tmpdir(), 'libcuda-double-'));
    execFileSync('cc', ['-shared', '-fPIC', '-o', path.join(libDir, 'libcuda.so.1'), path.join(FIXTURES, 'cuda-driver', 'libcuda-double.c')]);
  });

  it('reads the CUDA version and the device the driver reports', async () => {
    const answer = await askLibcuda({ ...linuxRoot('no-such-root', runCommand), env: { ...process.env, LD_LIBRARY_PATH: libDir } });
    expect(answer).toEqual({
      kind: 'answered',
      cudaVersion: '13.1',
      devices: [{ index: 0, name: 'TEST DOUBLE GPU', computeCapability: '9.0', memoryMiB: 81559 }],
      initError: undefined,
    });
  });

  it('names the error when cuInit fails', async () => {
    const env = { ...process.env, LD_LIBRARY_PATH: libDir, LIBCUDA_DOUBLE_INIT: '100' };
    const answer = await askLibcuda({ ...linuxRoot('no-such-root', runCommand), env });
    expect(answer).toEqual({ kind: 'answered', cudaVersion: '13.1', devices: [], initError: 'cuInit: CUDA_ERROR_NO_DEVICE (100)' });
    expect(libcudaRecord(answer)).toEqual({ source: 'libcuda', ok: false, detail: 'cuDriverGetVersion: CUDA 13.1; cuInit: CUDA_ERROR_NO_DEVICE (100)' });
  });
});
