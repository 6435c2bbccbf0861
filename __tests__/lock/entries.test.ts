import { parse } from 'smol-toml';
import { declaredExtras, poetrySources, torchEntries } from '../../src/lock/entries.js';

describe('torchEntries', () => {
  it('reads every place pyproject.toml can ask for torch, with group, source, markers and extras', () => {
    const pyproject = parse(`
[project]
dependencies = ["numpy", "torch (==2.3.1+cpu) ; extra != 'cuda'"]
[project.optional-dependencies]
CUDA = ["torch>=2.6"]
[tool.poetry.dependencies]
python = "^3.11"
Torch = [
  { version = "^2.6", markers = "sys_platform != 'darwin'", source = "pytorch-cpu" },
  { version = "^2.6", platform = "darwin" },
]
[tool.poetry.group.Torch_GPU]
optional = true
[tool.poetry.group.Torch_GPU.dependencies]
torch = "^2.6"
[tool.poetry.extras]
cpu = ["torch", "numpy"]
[dependency-groups]
test = ["torch>=2"]
`);
    expect(torchEntries(pyproject)).toEqual([
      { where: '[tool.poetry.dependencies]', group: 'main', source: 'pytorch-cpu', markers: "sys_platform != 'darwin'", extras: ['cpu'], constraint: '^2.6' },
      { where: '[tool.poetry.dependencies]', group: 'main', source: undefined, markers: 'sys_platform == "darwin"', extras: ['cpu'], constraint: '^2.6' },
      { where: '[project] dependencies', group: 'main', markers: "extra != 'cuda'", extras: [], constraint: '==2.3.1+cpu' },
      { where: '[project.optional-dependencies] CUDA', group: 'main', markers: undefined, extras: ['cuda'], constraint: '>=2.6' },
      { where: '[tool.poetry.group.Torch_GPU.dependencies]', group: 'torch-gpu', source: undefined, markers: undefined, extras: [], constraint: '^2.6' },
      { where: '[dependency-groups] test', group: 'test', markers: undefined, extras: [], constraint: '>=2' },
    ]);
  });

  it('finds none in a project without torch', () => {
    expect(torchEntries(parse('[tool.poetry.dependencies]\npython = "^3.11"\ntorchvision = "*"\n'))).toEqual([]);
  });
});

describe('poetrySources and declaredExtras', () => {
  it('reads the sources with Poetry 2 default priority, and the extras of both tables normalised', () => {
    const pyproject = parse(`
[project.optional-dependencies]
Cu_126 = ["torch"]
[tool.poetry.extras]
cpu = ["torch"]
[[tool.poetry.source]]
name = "pytorch-cpu"
url = "https://download.pytorch.org/whl/cpu"
priority = "explicit"
[[tool.poetry.source]]
name = "mirror"
url = "https://mirror.example/simple"
`);
    expect(poetrySources(pyproject)).toEqual([
      { name: 'pytorch-cpu', url: 'https://download.pytorch.org/whl/cpu', priority: 'explicit' },
      { name: 'mirror', url: 'https://mirror.example/simple', priority: 'primary' },
    ]);
    expect(declaredExtras(pyproject)).toEqual(['cpu', 'cu-126']);
  });
});
