// The "cache Poetry's download cache instead of the venv" alternative, done the way such an
// action would: the real @actions/cache (the same version the action bundles) saving or
// restoring one directory against whatever cache service the environment names.
//   node bench/artifact-cache.mjs save|restore <dir> <key>
// Prints one line: {"op":..., "hit": bool, "ms": n}; exits 1 on a failed save or a miss.
import * as cache from '@actions/cache';

const [op, dir, key] = process.argv.slice(2);
if (!['save', 'restore'].includes(op) || !dir || !key) {
  console.error('usage: artifact-cache.mjs save|restore <dir> <key>');
  process.exit(2);
}
const started = Date.now();
let ok;
if (op === 'save') ok = (await cache.saveCache([dir], key)) !== -1;
else ok = (await cache.restoreCache([dir], key)) === key;
console.log(JSON.stringify({ op, hit: ok, ms: Date.now() - started }));
process.exit(ok ? 0 : 1);
