/** Names that cross modules: outputs, the cache key schema, exported variables. */

/** Bump to retire every existing cache entry (a breaking change for users' caches: say so in CHANGELOG). */
export const CACHE_SCHEMA = 'v1';
export const CACHE_PREFIX = `setup-poetry-torch-${CACHE_SCHEMA}`;

export const Outputs = {
  mode: 'mode',
  gpuDetected: 'gpu-detected',
  gpuNames: 'gpu-names',
  driverVersion: 'driver-version',
  cudaDriverVersion: 'cuda-driver-version',
  cacheHit: 'cache-hit',
  cacheMatchedKey: 'cache-matched-key',
  cacheKey: 'cache-key',
  restoredFrom: 'restored-from',
  venvPath: 'venv-path',
  pythonPath: 'python-path',
  torchVersion: 'torch-version',
  torchCudaVersion: 'torch-cuda-version',
  cudaAvailable: 'cuda-available',
  deviceCount: 'device-count',
} as const;

/**
 * saveState names: what the main step hands the post step, as STATE_<name> variables. Names a
 * shell can carry (no '-'): a shell between the runner and node (a wrapper script) drops the others.
 */
export const States = {
  /** Set by the main step: the runner runs the same bundle as the post step, which finds it. */
  isPost: 'IS_POST',
  savePlan: 'SAVE_PLAN',
} as const;

/** Oldest Poetry whose sync semantics the action knows (1.8: `install --sync`). */
export const MIN_POETRY = '1.8.0';
export const DEFAULT_POETRY_VERSION = '2.5.1';
