/**
 * The newest CUDA version the driver supports: asked of the driver itself where it can be
 * (nvidia-smi's header, then libcuda's cuDriverGetVersion), and looked up in the driver
 * table from its version number only when neither answers. The table ages with every driver
 * release; the driver does not.
 */
import { newerThanDriverTable, newestCudaForDriver } from '../cuda-driver.js';
import type { LibcudaAnswer } from './libcuda.js';
import type { SmiOutcome } from './nvidia-smi.js';
import type { Detection } from './types.js';

type CudaVersionAnswer = Pick<Detection, 'cudaDriverVersion' | 'cudaDriverVersionFrom' | 'cudaDriverVersionDetail'>;

export function chooseCudaVersion(smi: SmiOutcome | undefined, libcuda: LibcudaAnswer | undefined, driverVersion: string | undefined): CudaVersionAnswer {
  const header = smi?.kind === 'listed' ? smi.header : undefined;
  if (header?.cudaVersion) {
    return {
      cudaDriverVersion: header.cudaVersion,
      cudaDriverVersionFrom: 'nvidia-smi',
      cudaDriverVersionDetail: `${header.cudaVersion} (nvidia-smi's header)`,
    };
  }
  if (libcuda?.kind === 'answered') {
    return {
      cudaDriverVersion: libcuda.cudaVersion,
      cudaDriverVersionFrom: 'libcuda',
      cudaDriverVersionDetail: `${libcuda.cudaVersion} (libcuda's cuDriverGetVersion)`,
    };
  }
  const unanswered = [header?.failure ? `nvidia-smi's header: ${header.failure}` : '', libcuda?.kind === 'failed' ? `libcuda: ${libcuda.message}` : ''].filter(
    Boolean,
  );
  const why = unanswered.length ? `; the driver did not say (${unanswered.join('; ')})` : '';
  const fromTable = driverVersion === undefined ? undefined : newestCudaForDriver(driverVersion);
  if (driverVersion === undefined || fromTable === undefined) {
    return { cudaDriverVersionDetail: `unknown${driverVersion ? ` (driver ${driverVersion} is older than the driver table)` : ''}${why}` };
  }
  const bound = newerThanDriverTable(driverVersion) ? ', at least: the driver is newer than the table' : '';
  return {
    cudaDriverVersion: fromTable,
    cudaDriverVersionFrom: 'driver-table',
    cudaDriverVersionDetail: `${fromTable} (driver table for ${driverVersion}${bound})${why}`,
  };
}
