// Builds dist/: the ncc bundle plus the probe it runs inside the venv.
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
copyFileSync(`${root}src/probe.py`, `${root}dist/probe.py`);
