import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkSelection, loadProject, lockedTorch } from '../src/project.js';

const seed = fs.readFileSync(new URL('../examples/seed/pyproject.toml', import.meta.url), 'utf8');
const lock = `
[[package]]
name = "torch"
version = "2.13.0+cpu"
[package.source]
type = "legacy"
url = "https://download.pytorch.org/whl/cpu"
reference = "pytorch-cpu"

[[package]]
name = "torch"
version = "2.14.1+cu130"
[package.source]
type = "legacy"
url = "https://download.pytorch.org/whl/cu130"
reference = "pytorch-cuda"

[metadata]
lock-version = "2.1"
`;

function project(pyproject: string, lockText: string | null = lock): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'project-'));
  fs.writeFileSync(path.join(dir, 'pyproject.toml'), pyproject);
  if (lockText !== null) fs.writeFileSync(path.join(dir, 'poetry.lock'), lockText);
  return dir;
}

function errorOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

describe('loadProject', () => {
  it('requires poetry.lock so Poetry never re-locks in CI', () => {
    expect(errorOf(() => loadProject(project(seed, null)))).toMatch(/^poetry\.lock not found in .*run `poetry lock` and commit poetry\.lock/);
  });

  it('names the line and column of invalid TOML', () => {
    expect(errorOf(() => loadProject(project('[tool.poetry]\nname = "x"\nbroken = \n')))).toMatch(/^pyproject\.toml is not valid TOML at line 3, column \d+/);
  });

  it('rejects a pyproject.toml that is not a Poetry project', () => {
    expect(errorOf(() => loadProject(project('[tool.black]\nline-length = 100\n')))).toContain('is not a Poetry project');
  });
});

describe('checkSelection on the seed layout', () => {
  const seedProject = () => loadProject(project(seed));

  it('accepts the seed selections', () => {
    expect(() => checkSelection(seedProject(), { extras: ['cpu'], groups: [] }, 'cpu')).not.toThrow();
    expect(() => checkSelection(seedProject(), { extras: ['cuda'], groups: ['cuda'] }, 'cuda')).not.toThrow();
  });

  it('names the table to add an undeclared extra or group to', () => {
    expect(errorOf(() => checkSelection(seedProject(), { extras: ['gpu'], groups: ['cuda'] }, 'cuda'))).toMatch(
      /^Extra 'gpu' \(input cuda-extras\) is not declared.*\[tool\.poetry\.extras\].*one of: cpu, cuda/,
    );
    expect(errorOf(() => checkSelection(seedProject(), { extras: ['cuda'], groups: ['gpu'] }, 'cuda'))).toMatch(
      /^Group 'gpu' \(input cuda-groups\) is not declared.*\[tool\.poetry\.group\.gpu\.dependencies\]/,
    );
  });

  it('finds torch missing from the CUDA group', () => {
    const withoutCudaTorch = seed.replace(/\[tool\.poetry\.group\.cuda\.dependencies\][^[]*/, '[tool.poetry.group.cuda.dependencies]\n\n');
    expect(errorOf(() => checkSelection(loadProject(project(withoutCudaTorch)), { extras: ['cuda'], groups: ['cuda'] }, 'cuda'))).toMatch(
      /^torch is not in \[tool\.poetry\.group\.cuda\.dependencies\]/,
    );
  });
});

describe('lockedTorch', () => {
  it('finds the CPU and CUDA torch pinned by the lock', () => {
    const loaded = loadProject(project(seed));
    expect(lockedTorch(loaded, 'cpu')).toEqual({
      version: '2.13.0+cpu',
      label: 'cpu',
      sourceName: 'pytorch-cpu',
      sourceUrl: 'https://download.pytorch.org/whl/cpu',
    });
    expect(lockedTorch(loaded, 'cuda')?.label).toBe('cu130');
  });
});
