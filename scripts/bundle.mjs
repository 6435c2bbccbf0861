// Builds dist/: the ncc bundle plus the Python it runs (probe.py inside the venv, cuda_driver.py to ask libcuda).
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [`${root}node_modules/@vercel/ncc/dist/ncc/cli.js`, 'build', 'src/index.ts', '-o', 'dist', '--license', 'licenses.txt', '--quiet'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
for (const script of ['probe.py', 'cuda_driver.py']) copyFileSync(`${root}src/${script}`, `${root}dist/${script}`);
