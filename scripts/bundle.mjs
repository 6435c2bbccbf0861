// Builds dist/: one ncc bundle per entry (the main and post steps, the cache worker) plus the Python they run (probe.py inside the venv, cuda_driver.py to ask libcuda).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ENTRIES = { index: 'src/index.ts', 'cache-worker': 'src/cache-worker.ts' };
rmSync(`${root}dist`, { recursive: true, force: true });
for (const [name, source] of Object.entries(ENTRIES)) {
  // ncc names its output index.js; each entry builds into its own folder first.
  const out = `${root}dist/.build-${name}`;
  execFileSync(process.execPath, [`${root}node_modules/@vercel/ncc/dist/ncc/cli.js`, 'build', source, '-o', out, '--license', 'licenses.txt', '--quiet'], {
    cwd: root,
    stdio: 'inherit',
  });
  renameSync(`${out}/index.js`, `${root}dist/${name}.js`);
  // package.json ({"type": "module"}) and licenses.txt: the main bundle's cover the others'.
  for (const file of readdirSync(out)) if (!existsSync(`${root}dist/${file}`)) renameSync(`${out}/${file}`, `${root}dist/${file}`);
  rmSync(out, { recursive: true, force: true });
}
for (const script of ['probe.py', 'cuda_driver.py']) copyFileSync(`${root}src/${script}`, `${root}dist/${script}`);
