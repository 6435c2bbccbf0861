import { parse } from 'smol-toml';
import { activeGroups, installedFor, lockedEntries, projectGroups, readLock } from '../../src/lock/lockfile.js';
import { runnerMarkerEnvironment } from '../../src/lock/markers.js';

const pyproject = parse(`
[tool.poetry.dependencies]
python = ">=3.11"
[tool.poetry.group.cuda]
optional = true
[tool.poetry.group.Dev_Tools.dependencies]
six = "*"
[dependency-groups]
test = ["pytest"]
`);

const lock21 = parse(`
[[package]]
name = "torch"
version = "2.13.0+cpu"
optional = true
groups = ["main"]
markers = "extra == \\"cpu\\" and extra != \\"cuda\\""
[package.dependencies]
filelock = "*"
nvidia-cublas = [
  {version = "13.1.1.3", markers = "platform_system == \\"Linux\\""},
  {version = "13.10.0.20", markers = "platform_system == \\"Windows\\"", extras = ["x"]},
]
[package.extras]
Opt_Einsum = ["opt-einsum (>=3.3)"]
[package.source]
type = "legacy"
url = "https://download.pytorch.org/whl/cpu"
reference = "pytorch-cpu"

[[package]]
name = "torch"
version = "2.14.1+cu130"
optional = true
groups = ["cuda"]
markers = "extra == \\"cuda\\" and extra != \\"cpu\\""
[package.source]
type = "legacy"
url = "https://download.pytorch.org/whl/cu130"
reference = "pytorch-cuda"

[[package]]
name = "Typing_Extensions"
version = "4.16.0"
optional = false
groups = ["main", "cuda"]
markers = {main = "extra == \\"cpu\\" and extra != \\"cuda\\"", cuda = "extra == \\"cuda\\" and extra != \\"cpu\\""}

[[package]]
name = "six"
version = "1.17.0"
optional = false
groups = ["dev-tools", "test"]

[[package]]
name = "macos-only"
version = "1.0"
optional = false
groups = ["main"]
markers = "sys_platform == \\"darwin\\""

[extras]
cpu = ["torch"]
CUDA = ["torch"]

[metadata]
lock-version = "2.1"
`);

const model = readLock(lock21, '/p/poetry.lock', pyproject);
const linux = runnerMarkerEnvironment('linux', 'x64', '3.11.9');
const names = (plan: ReturnType<typeof installedFor>): string[] => (plan.known ? plan.packages.map((pkg) => `${pkg.name}==${pkg.version}`) : [plan.reason]);

describe('readLock', () => {
  it('reads names, versions, labels, groups, markers, sources, dependencies and extras', () => {
    expect(model).toMatchObject({ lockVersion: '2.1', groupsAndMarkers: true, extras: { cpu: ['torch'], cuda: ['torch'] } });
    const [cpu, cuda] = lockedEntries(model, 'Torch');
    expect(cpu).toMatchObject({
      name: 'torch',
      version: '2.13.0+cpu',
      label: 'cpu',
      groups: ['main'],
      optional: true,
      source: { type: 'legacy', url: 'https://download.pytorch.org/whl/cpu', reference: 'pytorch-cpu' },
      extras: { 'opt-einsum': ['opt-einsum (>=3.3)'] },
    });
    expect(cpu.dependencies).toEqual([
      { name: 'filelock', constraint: '*', markers: undefined, extras: [], optional: false },
      { name: 'nvidia-cublas', constraint: '13.1.1.3', markers: 'platform_system == "Linux"', extras: [], optional: false },
      { name: 'nvidia-cublas', constraint: '13.10.0.20', markers: 'platform_system == "Windows"', extras: ['x'], optional: false },
    ]);
    expect(cuda.label).toBe('cu130');
    expect(lockedEntries(model, 'typing-extensions')[0].markers).toEqual({
      main: 'extra == "cpu" and extra != "cuda"',
      cuda: 'extra == "cuda" and extra != "cpu"',
    });
    expect(lockedEntries(model, 'six')[0]).toMatchObject({ markers: undefined, source: undefined, label: undefined });
  });

  it('knows the groups pyproject.toml declares, normalised, and which are optional', () => {
    expect(projectGroups(pyproject)).toEqual([
      { name: 'main', optional: false },
      { name: 'test', optional: false },
      { name: 'cuda', optional: true },
      { name: 'dev-tools', optional: false },
    ]);
  });
});

describe('activeGroups (poetry sync --with/--without/--only)', () => {
  it.each([
    [{ extras: [] }, ['main', 'test', 'dev-tools']],
    [{ extras: [], groups: ['cuda'] }, ['main', 'test', 'dev-tools', 'cuda']],
    [{ extras: [], groups: ['cuda'], without: ['Dev.Tools', 'test'] }, ['main', 'cuda']],
    [{ extras: [], only: ['cuda'], groups: ['test'] }, ['cuda']],
  ])('%j -> %j', (selection, groups) => {
    expect(activeGroups(model, selection)).toEqual(groups);
  });
});

describe('installedFor', () => {
  it.each([
    [[], [], ['six==1.17.0']],
    [['cpu'], [], ['torch==2.13.0+cpu', 'typing-extensions==4.16.0', 'six==1.17.0']],
    // The seed's trap: the cuda extra without the cuda group installs no torch at all.
    [['cuda'], [], ['six==1.17.0']],
    [['CUDA'], ['cuda'], ['torch==2.14.1+cu130', 'typing-extensions==4.16.0', 'six==1.17.0']],
    [['cpu', 'cuda'], ['cuda'], ['six==1.17.0']],
  ])('extras %j, --with %j on linux -> %j', (extras, groups, want) => {
    expect(names(installedFor(model, { extras, groups }, linux))).toEqual(want);
  });

  it('evaluates platform markers on the runner given', () => {
    const mac = runnerMarkerEnvironment('darwin', 'arm64', '3.12.1');
    expect(names(installedFor(model, { extras: [], only: ['main'] }, mac))).toEqual(['macos-only==1.0']);
    expect(names(installedFor(model, { extras: [], only: ['main'] }, linux))).toEqual([]);
  });

  it('says it cannot tell for a 2.0 lock (Poetry 1.x) instead of guessing', () => {
    const old = readLock(parse('[[package]]\nname = "torch"\nversion = "2.2.0"\noptional = false\n[metadata]\nlock-version = "2.0"\n'), '/p/poetry.lock');
    const plan = installedFor(old, { extras: ['cpu'] }, linux);
    expect(plan.known).toBe(false);
    expect(names(plan)[0]).toMatch(/^\/p\/poetry.lock is lock format 2.0 \(Poetry 1.x\).*Run `poetry lock` with Poetry 2/);
  });

  it('fails with one ActionError naming the lock and the marker when a marker is not PEP 508', () => {
    const bad = readLock(
      parse('[[package]]\nname = "x"\nversion = "1"\ngroups = ["main"]\nmarkers = "sys_platform = 1"\n[metadata]\nlock-version = "2.1"\n'),
      '/p/poetry.lock',
    );
    expect(() => installedFor(bad, { extras: [] }, linux)).toThrow('/p/poetry.lock has a marker that is not valid PEP 508: "sys_platform = 1"');
  });
});
