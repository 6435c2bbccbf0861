import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadProject } from '../src/project.js';

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
