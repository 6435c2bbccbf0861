import { askLibcuda, libcudaRecord, pythonFor } from '../../src/detect/libcuda.js';
import { runCommand } from '../../src/exec.js';
import { linuxRoot, recordedMachine } from './doubles.js';

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
