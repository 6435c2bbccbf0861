import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'smol-toml';
import { ActionError } from '../../src/errors.js';
import { accepts, checkDuplicatePins, findDuplicatePins } from '../../src/lock/duplicates.js';
import { readLock, type SyncSelection } from '../../src/lock/lockfile.js';
import { runnerMarkerEnvironment } from '../../src/lock/markers.js';

const fixtures = path.join(import.meta.dirname, '..', 'fixtures', 'lock-duplicates');
// The real lock (see fixtures/lock-duplicates/README.md): Poetry 2.5.1, torch 2.14.1+cu130, PyPI's nvidia-*.
const seedLock = readLock(
  parse(fs.readFileSync(path.join(fixtures, 'seed-cu130.poetry.lock'), 'utf8')),
  'poetry.lock',
  parse(fs.readFileSync(path.join(fixtures, 'seed-cu130.pyproject.toml'), 'utf8')),
);
const linux = runnerMarkerEnvironment('linux', 'x64', '3.11.9');
const cuda: SyncSelection = { extras: ['cuda'], groups: ['cuda'] };
const cpu: SyncSelection = { extras: ['cpu'] };
const where = { pyprojectFile: 'pyproject.toml', selection: 'cuda' };

/** A lock built from [[package]] snippets, with main and an optional cuda group declared. */
function lockOf(packages: string): ReturnType<typeof readLock> {
  const pyproject = parse('[tool.poetry.dependencies]\npython = ">=3.11"\n[tool.poetry.group.cuda]\noptional = true\n');
  return readLock(parse(`[metadata]\nlock-version = "2.1"\n${packages}`), 'poetry.lock', pyproject);
}

const pkg = (name: string, version: string, markers: string, groups = '["cuda"]', extra = ''): string =>
  `[[package]]\nname = "${name}"\nversion = "${version}"\noptional = true\ngroups = ${groups}\nmarkers = ${JSON.stringify(markers)}\n${extra}\n`;

describe('accepts', () => {
  it.each([
    ['*', '13.10.0.20', true],
    ['==13.1.1.3.*', '13.1.1.3', true],
    ['==13.1.1.3.*', '13.10.0.20', false],
    ['9.24.0.43', '9.24.0.43', true],
    ['>=13.0.88,<14', '13.5.37', true],
    ['>=2.13,<3.0', '2.14.1+cu130', true],
    ['<1.0 || >=2.0', '2.1', true],
    ['^1.2', '1.3', undefined],
  ])('%s accepts %s: %s', (constraint, version, expected) => {
    expect(accepts(constraint, version)).toBe(expected);
  });
});

describe('findDuplicatePins on the real CUDA 13 lock', () => {
  it('finds nvidia-cublas and nvidia-cuda-nvrtc twice for the cuda selection on Linux x86_64, with who wants each', () => {
    const duplicates = findDuplicatePins(seedLock, cuda, linux) ?? [];
    expect(duplicates.map((d) => [d.name, d.versions.map((v) => v.version)])).toEqual([
      ['nvidia-cublas', ['13.1.1.3', '13.10.0.20']],
      ['nvidia-cuda-nvrtc', ['13.0.88', '13.5.37']],
    ]);
    const [cublas] = duplicates;
    expect(cublas.versions[0].wantedBy).toEqual([{ name: 'cuda-toolkit', version: '13.0.3.0', constraint: '==13.1.1.3.*', viaExtras: ['cublas', 'cusolver'] }]);
    expect(cublas.versions[1].wantedBy.map((d) => d.name)).toEqual(['nvidia-cudnn-cu13', 'nvidia-cusolver']);
    expect(cublas.settle).toBe('13.1.1.3');
    expect(cublas.table).toBe('[tool.poetry.group.cuda.dependencies]');
    expect(cublas.line).toBe(`nvidia-cublas = { version = "13.1.1.3", markers = 'extra == "cuda" and extra != "cpu" and platform_system == "Linux"' }`);
  });

  it('stops the step with one error naming each package, both versions, who wants each and the lines to add', () => {
    let error: unknown;
    try {
      checkDuplicatePins(seedLock, cuda, linux, where);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ActionError);
    const message = (error as ActionError).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('poetry.lock pins 2 packages in two versions that both install for cuda on this runner (Linux x86_64, Python 3.11): ');
    expect(message).toContain(
      'nvidia-cublas 13.1.1.3 (for cuda-toolkit[cublas,cusolver] 13.0.3.0 (==13.1.1.3.*)) and 13.10.0.20 (for nvidia-cudnn-cu13 9.24.0.43 (any version), nvidia-cusolver 12.0.4.66 (any version))',
    );
    expect(message).toContain('nvidia-cuda-nvrtc 13.0.88 (for cuda-toolkit[cublas,nvrtc] 13.0.3.0 (==13.0.88.*)) and 13.5.37 (for nvidia-cublas');
    expect(message).toContain(
      `Fix: in pyproject.toml, add \`nvidia-cublas = { version = "13.1.1.3", markers = 'extra == "cuda" and extra != "cpu" and platform_system == "Linux"' }\` and \`nvidia-cuda-nvrtc = { version = "13.0.88", markers = 'extra == "cuda" and extra != "cpu" and platform_system == "Linux"' }\` to [tool.poetry.group.cuda.dependencies]; then run \`poetry lock\`.`,
    );
  });

  it('passes the cpu selection (torch +cpu and +cu130 exclude each other), and cuda on macOS and Windows', () => {
    expect(findDuplicatePins(seedLock, cpu, linux)).toEqual([]);
    expect(checkDuplicatePins(seedLock, cpu, linux, { ...where, selection: 'cpu' })).toBe('lock: 32 packages, no duplicate pins for cpu');
    expect(findDuplicatePins(seedLock, cuda, runnerMarkerEnvironment('darwin', 'arm64', '3.12.4'))).toEqual([]);
    // platform_system == "Linux" on every nvidia-* entry: nothing CUDA installs on Windows from this lock.
    expect(findDuplicatePins(seedLock, cuda, runnerMarkerEnvironment('win32', 'x64', '3.12.4'))).toEqual([]);
  });

  it('finds them on Linux aarch64 too (sys_platform and platform_machine in parentheses)', () => {
    const names = (findDuplicatePins(seedLock, cuda, runnerMarkerEnvironment('linux', 'arm64', '3.13.1')) ?? []).map((d) => d.name);
    expect(names).toEqual(['nvidia-cublas', 'nvidia-cuda-nvrtc']);
  });
});

describe('findDuplicatePins on marker cases', () => {
  it('passes two versions whose extras exclude each other, and fails when one selection holds both', () => {
    const lock = lockOf(
      pkg('torch', '2.13.0+cpu', 'extra == "cpu" and extra != "cuda"', '["main"]') + pkg('torch', '2.14.1+cu130', 'extra == "cuda" and extra != "cpu"'),
    );
    expect(findDuplicatePins(lock, cuda, linux)).toEqual([]);
    expect(findDuplicatePins(lock, { extras: ['cpu'], groups: ['cuda'] }, linux)).toEqual([]);
    // Without the `extra != ...` halves both would hold when both extras are selected.
    const loose = lockOf(pkg('torch', '2.13.0+cpu', 'extra == "cpu"', '["main"]') + pkg('torch', '2.14.1+cu130', 'extra == "cuda"'));
    expect((findDuplicatePins(loose, { extras: ['cpu', 'cuda'], groups: ['cuda'] }, linux) ?? []).map((d) => d.name)).toEqual(['torch']);
  });

  it('reads and/or with parentheses: a platform clause that excludes this runner passes', () => {
    const lock = lockOf(
      pkg('six', '1.16.0', '(sys_platform == "win32" or sys_platform == "darwin") and extra == "cuda"') +
        pkg('six', '1.17.0', 'sys_platform == "linux" and (platform_machine == "aarch64" or platform_machine == "x86_64") and extra == "cuda"'),
    );
    expect(findDuplicatePins(lock, cuda, linux)).toEqual([]);
    const both = lockOf(
      pkg('six', '1.16.0', 'sys_platform == "win32" and extra == "cuda" or sys_platform == "linux" and extra == "cuda"') +
        pkg('six', '1.17.0', 'platform_system == "Linux" and python_version >= "3.10"'),
    );
    const [six] = findDuplicatePins(both, cuda, linux) ?? [];
    expect(six.versions.map((v) => v.version)).toEqual(['1.16.0', '1.17.0']);
    // No dependent names six: the newest is pinned, under the shorter of the two markers.
    expect(six.line).toBe(`six = { version = "1.17.0", markers = 'platform_system == "Linux" and python_version >= "3.10"' }`);
    expect(findDuplicatePins(both, cuda, runnerMarkerEnvironment('linux', 'x64', '3.9.18'))).toEqual([]);
  });

  it('ignores packages of groups the selection leaves out, and pins in main when main pulls it', () => {
    const lock = lockOf(pkg('six', '1.16.0', '', '["main"]') + pkg('six', '1.17.0', '', '["cuda"]'));
    expect(findDuplicatePins(lock, { extras: [] }, linux)).toEqual([]);
    const [six] = findDuplicatePins(lock, { extras: [], groups: ['cuda'] }, linux) ?? [];
    expect(six.table).toBe('[tool.poetry.group.cuda.dependencies]');
    expect(six.line).toBe('six = "1.17.0"');
    const main = lockOf(pkg('six', '1.16.0', '', '["main"]') + pkg('six', '1.17.0', 'python_version >= "3"', '["main"]'));
    expect((findDuplicatePins(main, { extras: [] }, linux) ?? [])[0].table).toBe('[tool.poetry.dependencies]');
  });

  it('says when no locked version satisfies every dependent', () => {
    const lock = lockOf(
      pkg('a', '1.0', '', '["cuda"]', '[package.dependencies]\nsix = "==1.16.0"') +
        pkg('b', '1.0', '', '["cuda"]', '[package.dependencies]\nsix = ">=1.17"') +
        pkg('six', '1.16.0', '') +
        pkg('six', '1.17.0', ''),
    );
    const [six] = findDuplicatePins(lock, cuda, linux) ?? [];
    expect(six.settle).toBeUndefined();
    expect(() => checkDuplicatePins(lock, cuda, linux, where)).toThrow(
      'Fix: in pyproject.toml, no locked version of six satisfies all of a 1.0 (==1.16.0), b 1.0 (>=1.17): change or drop one of those dependencies; then run `poetry lock`.',
    );
  });

  it('cannot tell on a Poetry 1.x lock and says so in the summary', () => {
    const old = readLock(parse('[metadata]\nlock-version = "2.0"\n' + pkg('six', '1.16.0', '') + pkg('six', '1.17.0', '')), 'poetry.lock');
    expect(findDuplicatePins(old, cuda, linux)).toBeUndefined();
    expect(checkDuplicatePins(old, cuda, linux, where)).toBe('lock: 2 packages, duplicate pins not checked (lock format 2.0)');
  });
});
