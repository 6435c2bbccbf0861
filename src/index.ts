import { isPostStep, markMainStep, postMain } from './cache/save.js';
import { run } from './main.js';

if (isPostStep()) await postMain();
else {
  markMainStep();
  await run();
}
// Nothing may keep the step alive once its work is done (a stalled socket, a leftover timer).
process.exit();
