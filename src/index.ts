import { run } from './main.js';

await run();
// Nothing may keep the step alive once its work is done (a stalled socket, a leftover timer).
process.exit();
