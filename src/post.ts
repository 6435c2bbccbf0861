import { postMain } from './cache/save.js';

await postMain();
process.exit();
