import { cacheWorkerMain, isCacheWorker } from './cache.js';
import { run } from './main.js';

// The same bundle serves as the cache worker that cache.ts starts, so a hung cache call can be killed.
await (isCacheWorker() ? cacheWorkerMain() : run());
// Nothing may keep the step alive once its work is done (a stalled socket, a leftover timer).
process.exit();
