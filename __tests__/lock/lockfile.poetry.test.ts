// installedFor against real Poetry: each fixture is locked by Poetry 2.5.1 against the e2e
// harness's local index, and for each selection the packages installedFor names must be
// exactly those `poetry sync --dry-run` would install.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { parse } from 'smol-toml';
import { installedFor, readLock, type SyncSelection } from '../../src/lock/lockfile.js';
import { runnerMarkerEnvironment } from '../../src/lock/markers.js';

jest.setTimeout(300_000);

interface Harness {
  ensureWheels(): Promise<{ dir: string }>;
  ensurePoetry(): Promise<{ poetry: string }>;
  buildFakeCudaTorchWheel(dir: string): Promise<void>;
  startPackageIndex(options: {
    wheelsDir: string;
    cudaWheelsDir: string;
  }): Promise<{ cpuUrl: string; cudaUrl: string; pypiUrl: string; close(): Promise<void> }>;
  poetryEnv(options: { cacheDir: string }): NodeJS.ProcessEnv;
  runPoetry(
    poetry: { poetry: string },
    args: string[],
    options: { cwd: string; env: NodeJS.ProcessEnv },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  DEFAULT_CACHE_ROOT: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, '..', 'fixtures', 'lock');
const cases: [string, string[], SyncSelection][] = [
  ['seed-plus-groups', [], { extras: [] }],
  ['seed-plus-groups', ['-E', 'cpu'], { extras: ['cpu'] }],
  ['seed-plus-groups', ['-E', 'cuda', '--with', 'cuda'], { extras: ['cuda'], groups: ['cuda'] }],
  ['seed-plus-groups', ['-E', 'cuda'], { extras: ['cuda'] }],
  ['seed-plus-groups', ['-E', 'cpu', '--with', 'lint', '--without', 'dev'], { extras: ['cpu'], groups: ['lint'], without: ['dev'] }],
  ['platform-groups', [], { extras: [] }],
  ['platform-groups', ['--only', 'lint'], { extras: [], only: ['lint'] }],
];

/** `- Installing six (1.17.0)` lines that are not `: Skipped ...`. */
function poetryWouldInstall(stdout: string): string[] {
  return [...stdout.matchAll(/^\s*- Installing (\S+) \(([^)]+)\)\s*$/gm)].map((match) => `${match[1].toLowerCase()}==${match[2]}`).sort();
}

let harness: Harness;
let poetry: { poetry: string };
let closeIndex: () => Promise<void>;
const projects = new Map<string, string>();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-poetry-'));
// A private Poetry cache: Poetry keeps each source's release info (file URLs with the index's
// port) by source name, and the index listens on a new port each run.
const poetryEnv = (): NodeJS.ProcessEnv => harness.poetryEnv({ cacheDir: path.join(scratch, 'poetry-cache') });

beforeAll(async () => {
  const load = async (file: string): Promise<Record<string, unknown>> =>
    (await import(path.join(here, '..', '..', 'e2e', 'harness', file))) as Record<string, unknown>;
  harness = { ...(await load('wheels.mjs')), ...(await load('poetry.mjs')), ...(await load('package-index.mjs')) } as unknown as Harness;
  const [wheels, installed] = await Promise.all([harness.ensureWheels(), harness.ensurePoetry()]);
  poetry = installed;
  const cudaWheelsDir = path.join(harness.DEFAULT_CACHE_ROOT, 'cuda-torch-test-double');
  await harness.buildFakeCudaTorchWheel(cudaWheelsDir);
  const index = await harness.startPackageIndex({ wheelsDir: wheels.dir, cudaWheelsDir });
  closeIndex = () => index.close();
  const strip = (url: string): string => url.replace(/\/+$/, '');
  await Promise.all(
    [...new Set(cases.map(([name]) => name))].map(async (name) => {
      const dir = path.join(scratch, name);
      fs.mkdirSync(dir);
      const text = fs
        .readFileSync(path.join(fixtures, name, 'pyproject.toml'), 'utf8')
        .replaceAll('{{pypi}}', strip(index.pypiUrl))
        .replaceAll('{{cpu}}', strip(index.cpuUrl))
        .replaceAll('{{cu130}}', strip(index.cudaUrl));
      fs.writeFileSync(path.join(dir, 'pyproject.toml'), text);
      const locked = await harness.runPoetry(poetry, ['lock'], { cwd: dir, env: poetryEnv() });
      if (locked.code !== 0) throw new Error(`poetry lock failed in ${dir}: ${locked.stderr}`);
      projects.set(name, dir);
    }),
  );
});

afterAll(async () => {
  await closeIndex?.();
  fs.rmSync(scratch, { recursive: true, force: true });
});

it.each(cases)('%s: poetry sync --dry-run %j installs exactly what installedFor says', async (name, args, selection) => {
  const dir = projects.get(name) as string;
  const dryRun = await harness.runPoetry(poetry, ['sync', '--dry-run', ...args], { cwd: dir, env: poetryEnv() });
  expect(dryRun.code).toBe(0);
  const python = path.join(dir, '.venv', 'bin', 'python');
  const version = execFileSync(python, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8' }).trim();
  const env = runnerMarkerEnvironment(process.platform, process.arch, version);
  const model = readLock(
    parse(fs.readFileSync(path.join(dir, 'poetry.lock'), 'utf8')),
    path.join(dir, 'poetry.lock'),
    parse(fs.readFileSync(path.join(dir, 'pyproject.toml'), 'utf8')),
  );
  const plan = installedFor(model, selection, env);
  if (!plan.known) throw new Error(plan.reason);
  const ours = plan.packages.map((pkg) => `${pkg.name}==${pkg.version}`).sort();
  expect(ours).toEqual(poetryWouldInstall(dryRun.stdout));
});
