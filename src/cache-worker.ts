import { workerMain } from './cache/worker.js';

// Its own bundle (dist/cache-worker.js): the step runs it as a child process it can kill.
await workerMain();
process.exit();
