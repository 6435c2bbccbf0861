import { parse } from 'smol-toml';
import { ActionError } from '../../src/errors.js';
import { planFor, readLayout, selectionInArgs, type LayoutInputs } from '../../src/lock/layout.js';
import { runnerMarkerEnvironment } from '../../src/lock/markers.js';
import type { Project } from '../../src/project.js';

const auto: LayoutInputs = { cpuExtras: 'auto', cpuGroups: 'auto', cudaExtras: 'auto', cudaGroups: 'auto' };
const linux = runnerMarkerEnvironment('linux', 'x64', '3.11.9');

function project(pyproject: string, lock: string): Project {
  return { dir: '/p', pyprojectPath: '/p/pyproject.toml', lockPath: '/p/poetry.lock', pyproject: parse(pyproject), lock: parse(lock), lockText: lock };
}

/** A 2.1 lock of torch entries only: [version, source name, url, groups, markers]. */
function lock(
  entries: [string, string | undefined, string | undefined, string[], string | Record<string, string> | undefined][],
  extras: string[] = [],
): string {
  const packages = entries.map(([version, name, url, groups, markers]) => {
    const marker =
      markers === undefined
        ? ''
        : typeof markers === 'string'
          ? `markers = ${JSON.stringify(markers)}\n`
          : `markers = {${Object.entries(markers)
              .map(([g, m]) => `${g} = ${JSON.stringify(m)}`)
              .join(', ')}}\n`;
    const source = name ? `[package.source]\ntype = "legacy"\nurl = "${url}"\nreference = "${name}"\n` : '';
    return `[[package]]\nname = "torch"\nversion = "${version}"\noptional = false\ngroups = ${JSON.stringify(groups)}\n${marker}${source}`;
  });
  return `${packages.join('\n')}\n[extras]\n${extras.map((extra) => `${extra} = ["torch"]`).join('\n')}\n[metadata]\nlock-version = "2.1"\n`;
}

const CPU = 'https://download.pytorch.org/whl/cpu';
const CU130 = 'https://download.pytorch.org/whl/cu130';
const CU126 = 'https://download.pytorch.org/whl/cu126';

const seedPyproject = `
[tool.poetry.dependencies]
torch = { version = "^2.13", source = "pytorch-cpu", markers = "extra=='cpu' and extra!='cuda'" }
[tool.poetry.group.cuda]
optional = true
[tool.poetry.group.cuda.dependencies]
torch = { version = "^2.13", source = "pytorch-cuda", markers = "extra=='cuda' and extra!='cpu'" }
[tool.poetry.group.dev.dependencies]
six = "*"
[tool.poetry.extras]
cpu = ["torch"]
cuda = ["torch"]
`;
const seedLock = lock(
  [
    ['2.13.0+cpu', 'pytorch-cpu', CPU, ['main'], 'extra == "cpu" and extra != "cuda"'],
    ['2.14.1+cu130', 'pytorch-cuda', CU130, ['cuda'], 'extra == "cuda" and extra != "cpu"'],
  ],
  ['cpu', 'cuda'],
);

describe('readLayout: the patterns', () => {
  it('the seed: an extra for cpu, an extra plus the optional group for cuda', () => {
    const layout = readLayout(project(seedPyproject, seedLock), linux, auto);
    expect(layout.name).toBe('extras + group');
    expect(planFor(layout, 'cpu')).toMatchObject({
      selection: { extras: ['cpu'], groups: [] },
      torch: { version: '2.13.0+cpu', kind: 'cpu', source: 'pytorch-cpu' },
    });
    expect(planFor(layout, 'cuda')).toMatchObject({
      selection: { extras: ['cuda'], groups: ['cuda'] },
      torch: { version: '2.14.1+cu130', kind: 'cuda', cuda: '13.0' },
    });
    expect(layout.description).toBe(
      'extras + group: cpu: --extras cpu -> torch 2.13.0+cpu from pytorch-cpu; cuda: --extras cuda --with cuda -> torch 2.14.1+cu130 from pytorch-cuda',
    );
  });

  it('single CPU build: both modes a plain sync; cuda mode is one error before any download', () => {
    const pyproject = '[tool.poetry.dependencies]\ntorch = {version = "^2", source = "pytorch-cpu"}\n';
    const layout = readLayout(project(pyproject, lock([['2.13.0+cpu', 'pytorch-cpu', CPU, ['main'], undefined]])), linux, auto);
    expect(layout.description).toBe('single build: torch 2.13.0+cpu from pytorch-cpu');
    expect(planFor(layout, 'cpu').selection).toEqual({ extras: [], groups: [] });
    expect(() => planFor(layout, 'cuda')).toThrow(
      /mode is cuda, but \/p\/poetry.lock pins no CUDA build of torch .* only torch 2.13.0\+cpu from pytorch-cpu \(\(no extras or groups\)\)/,
    );
  });

  it('single CUDA build from PyPI on Linux: cpu mode installs it with a notice; on macOS the same lock is a CPU build', () => {
    const pyproject = '[tool.poetry.dependencies]\ntorch = "^2.6"\n';
    const pypi = project(pyproject, lock([['2.14.1', undefined, undefined, ['main'], undefined]]));
    const layout = readLayout(pypi, linux, auto);
    expect(layout.description).toBe('single build: torch 2.14.1 from PyPI');
    expect(planFor(layout, 'cpu').notice).toMatch(
      /pins only a CUDA build of torch for this runner \(torch 2.14.1 from PyPI\).*CPU source \(https:\/\/download.pytorch.org\/whl\/cpu/,
    );
    expect(planFor(layout, 'cuda')).toMatchObject({ selection: { extras: [], groups: [] }, torch: { kind: 'cuda' } });
    const mac = readLayout(pypi, runnerMarkerEnvironment('darwin', 'arm64', '3.12.1'), auto);
    expect(planFor(mac, 'cpu').torch.kind).toBe('cpu');
    expect(planFor(mac, 'cpu').notice).toBeUndefined();
  });

  it('extras only, both builds in the main group with platform markers (no cuda group)', () => {
    const pyproject = `
[tool.poetry.dependencies]
torch = [
  { version = "^2.6", markers = "sys_platform != \\"darwin\\" and extra == \\"cuda\\"", source = "pytorch-cuda" },
  { version = "^2.6", markers = "extra != \\"cuda\\"", source = "pytorch-cpu" },
]
[tool.poetry.extras]
cpu = ["torch"]
cuda = ["torch"]
`;
    const lockText = lock(
      [
        ['2.13.0+cpu', 'pytorch-cpu', CPU, ['main'], 'extra != "cuda"'],
        ['2.14.1+cu130', 'pytorch-cuda', CU130, ['main'], 'sys_platform != "darwin" and extra == "cuda"'],
      ],
      ['cpu', 'cuda'],
    );
    const layout = readLayout(project(pyproject, lockText), linux, auto);
    expect(layout.name).toBe('extras');
    expect(planFor(layout, 'cpu').selection).toEqual({ extras: [], groups: [] });
    expect(planFor(layout, 'cuda').selection).toEqual({ extras: ['cuda'], groups: [] });
    // The explicit "no group" the issue asked for: cuda-groups none is accepted and changes nothing here.
    const none = readLayout(project(pyproject, lockText), linux, { ...auto, cudaGroups: [] });
    expect(planFor(none, 'cuda').selection).toEqual({ extras: ['cuda'], groups: [] });
  });

  it('groups only: each build in its own optional group, chosen with --with', () => {
    const pyproject = `
[tool.poetry.group.torch-cpu]
optional = true
[tool.poetry.group.torch-cpu.dependencies]
torch = { version = "^2", source = "pytorch-cpu" }
[tool.poetry.group.torch-cuda]
optional = true
[tool.poetry.group.torch-cuda.dependencies]
torch = { version = "^2", source = "pytorch-cuda" }
`;
    const lockText = lock([
      ['2.13.0+cpu', 'pytorch-cpu', CPU, ['torch-cpu'], undefined],
      ['2.14.1+cu130', 'pytorch-cuda', CU130, ['torch-cuda'], undefined],
    ]);
    const layout = readLayout(project(pyproject, lockText), linux, auto);
    expect(layout.name).toBe('groups');
    expect(planFor(layout, 'cpu').selection).toEqual({ extras: [], groups: ['torch-cpu'] });
    expect(planFor(layout, 'cuda').selection).toEqual({ extras: [], groups: ['torch-cuda'] });
  });

  it('PEP 621 [project.optional-dependencies] extras, with [tool.poetry.dependencies] binding the sources', () => {
    const pyproject = `
[project]
dependencies = []
[project.optional-dependencies]
cpu = ["torch>=2.6"]
cuda = ["torch>=2.6"]
[tool.poetry.dependencies]
torch = [{ markers = "extra == 'cpu' and extra != 'cuda'", source = "pytorch-cpu" }, { markers = "extra == 'cuda' and extra != 'cpu'", source = "pytorch-cuda" }]
`;
    const lockText = lock(
      [
        ['2.13.0+cpu', 'pytorch-cpu', CPU, ['main'], 'extra == "cpu" and extra != "cuda"'],
        ['2.14.1+cu130', 'pytorch-cuda', CU130, ['main'], 'extra == "cuda" and extra != "cpu"'],
      ],
      ['cpu', 'cuda'],
    );
    const layout = readLayout(project(pyproject, lockText), linux, auto);
    expect(layout.name).toBe('extras');
    expect(layout.entries.map((entry) => entry.where)).toEqual([
      '[tool.poetry.dependencies]',
      '[tool.poetry.dependencies]',
      '[project.optional-dependencies] cpu',
      '[project.optional-dependencies] cuda',
    ]);
    expect(planFor(layout, 'cpu').selection.extras).toEqual(['cpu']);
    expect(planFor(layout, 'cuda').selection.extras).toEqual(['cuda']);
  });

  describe('several CUDA builds side by side', () => {
    const pyproject = `
[tool.poetry.dependencies]
torch = [
  { version = "^2.13", source = "pytorch-cpu", markers = "extra == 'cpu'" },
  { version = "^2.13", source = "pytorch-cu126", markers = "extra == 'cu126'" },
  { version = "^2.13", source = "pytorch-cu130", markers = "extra == 'cu130'" },
]
[tool.poetry.extras]
cpu = ["torch"]
cu126 = ["torch"]
cu130 = ["torch"]
`;
    const lockText = lock(
      [
        ['2.13.0+cpu', 'pytorch-cpu', CPU, ['main'], 'extra == "cpu"'],
        ['2.13.0+cu126', 'pytorch-cu126', CU126, ['main'], 'extra == "cu126"'],
        ['2.13.0+cu130', 'pytorch-cu130', CU130, ['main'], 'extra == "cu130"'],
      ],
      ['cpu', 'cu126', 'cu130'],
    );
    it.each([
      [undefined, 'cu130'],
      ['13.2', 'cu130'],
      ['12.8', 'cu126'],
      ['11.8', 'cu130'], // none fits: the newest, and the driver check reports the driver
    ])('driver supports CUDA %s: auto picks %s', (driverCuda, extra) => {
      expect(planFor(readLayout(project(pyproject, lockText), linux, auto, driverCuda), 'cuda').selection.extras).toEqual([extra]);
    });
    it('an explicit cuda-extras wins over the driver', () => {
      expect(planFor(readLayout(project(pyproject, lockText), linux, { ...auto, cudaExtras: ['cu130'] }, '12.8'), 'cuda').torch.label).toBe('cu130');
    });
  });

  it('reads --with and --extras passed through sync-args', () => {
    expect(selectionInArgs(['--with', 'torch-cpu,dev', '-E', 'x', '--extras=Y_z', '--no-root'])).toEqual({
      extras: ['x', 'y-z'],
      groups: ['torch-cpu', 'dev'],
    });
  });
});

describe('readLayout: the errors, in the project own names', () => {
  it('no torch for this platform: one error quoting the markers', () => {
    const pyproject = `
[tool.poetry.dependencies]
torch = [
  { version = "^2.5.1+cu124", source = "pytorch-cu124", markers = "sys_platform == 'win32'" },
  { version = "^2.5.1", markers = "sys_platform == 'darwin'" },
]
`;
    const lockText = lock([
      ['2.5.1+cu124', 'pytorch-cu124', 'https://download.pytorch.org/whl/cu124', ['main'], 'sys_platform == "win32"'],
      ['2.5.1', undefined, undefined, ['main'], 'sys_platform == "darwin"'],
    ]);
    const layout = readLayout(project(pyproject, lockText), linux, auto);
    const message = `/p/poetry.lock installs no torch on this runner (linux x86_64, Python 3.11.9) for any extra or group: the torch entries' markers exclude it: [tool.poetry.dependencies] \`sys_platform == 'win32'\` (pytorch-cu124); [tool.poetry.dependencies] \`sys_platform == 'darwin'\` (PyPI).`;
    expect(() => planFor(layout, 'cpu')).toThrow(message);
    expect(() => planFor(layout, 'cuda')).toThrow(message);
  });

  it('an undeclared extra or group names what the project declares', () => {
    const layout = readLayout(project(seedPyproject, seedLock), linux, { ...auto, cpuExtras: ['cpu-only'], cudaGroups: ['gpu'] });
    expect(() => planFor(layout, 'cpu')).toThrow("Extra 'cpu-only' (input cpu-extras) is not declared in pyproject.toml; it declares cpu, cuda.");
    expect(() => planFor(layout, 'cuda')).toThrow("Group 'gpu' (input cuda-groups) is not declared in pyproject.toml; it declares main, cuda, dev.");
  });

  it('an explicit selection that installs no torch says so', () => {
    const layout = readLayout(project(seedPyproject, seedLock), linux, { ...auto, cudaExtras: ['cuda'], cudaGroups: [] });
    expect(() => planFor(layout, 'cuda')).toThrow(ActionError);
    expect(() => planFor(layout, 'cuda')).toThrow(/cuda mode: `poetry sync` with --extras cuda would install no torch on this runner/);
  });

  it('a lock older than pyproject.toml (torch gone from the table the lock pins it in) names the table', () => {
    const withoutMainTorch = seedPyproject.replace(/^torch = .*pytorch-cpu.*\n/m, '');
    const layout = readLayout(project(withoutMainTorch, seedLock), linux, auto);
    expect(() => planFor(layout, 'cpu')).toThrow(
      '[tool.poetry.dependencies] has no torch entry, but /p/poetry.lock pins torch 2.13.0+cpu there for cpu mode: the lock is older than pyproject.toml.',
    );
    expect(planFor(layout, 'cuda').torch.version).toBe('2.14.1+cu130');
  });

  it('markers that use extras pyproject.toml does not declare say which', () => {
    const layout = readLayout(project(seedPyproject.replace(/\[tool\.poetry\.extras\][^[]*/, ''), seedLock), linux, auto);
    expect(() => planFor(layout, 'cpu')).toThrow('/p/pyproject.toml: the torch markers use extras it does not declare (cpu, cuda)');
  });

  describe('a 2.0 lock (Poetry 1.x), which records no groups or markers per package', () => {
    const old = `[[package]]\nname = "torch"\nversion = "2.2.0+cpu"\n[package.source]\ntype = "legacy"\nurl = "${CPU}"\nreference = "pytorch-cpu"\n[metadata]\nlock-version = "2.0"\n`;
    it('auto: one clear error instead of a guess', () => {
      const layout = readLayout(project(seedPyproject, old), linux, auto);
      expect(layout.name).toBe('unknown (lock format 2.0)');
      expect(() => planFor(layout, 'cpu')).toThrow(
        /lock format 2.0 \(Poetry 1.x\).*Run `poetry lock` with Poetry 2 and commit poetry.lock, or set cpu-extras and cpu-groups/,
      );
      expect(() => planFor(layout, 'cuda')).toThrow(/It pins no CUDA build of torch/);
    });
    it('explicit inputs are taken as given, with a notice', () => {
      const plan = planFor(readLayout(project(seedPyproject, old), linux, { ...auto, cpuExtras: ['cpu'], cpuGroups: [] }), 'cpu');
      expect(plan).toMatchObject({ selection: { extras: ['cpu'], groups: [] }, torch: { version: '2.2.0+cpu', kind: 'cpu' } });
      expect(plan.notice).toMatch(/The step uses --extras cpu from the inputs and expects torch 2.2.0\+cpu from pytorch-cpu\.$/);
    });
  });
});
