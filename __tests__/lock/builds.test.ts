import { buildOf, describeBuild, describeSelection, layoutName } from '../../src/lock/builds.js';
import type { LockedPackage } from '../../src/lock/lockfile.js';

function pkg(version: string, url?: string, reference?: string): LockedPackage {
  const label = version.includes('+') ? version.split('+')[1] : undefined;
  return {
    name: 'torch',
    version,
    label,
    groups: ['main'],
    optional: false,
    source: url ? { type: 'legacy', url, reference } : undefined,
    dependencies: [],
    extras: {},
  };
}

describe('buildOf', () => {
  it.each([
    [pkg('2.13.0+cpu', 'https://download.pytorch.org/whl/cpu', 'pytorch-cpu'), 'linux', { kind: 'cpu', source: 'pytorch-cpu' }],
    [pkg('2.14.1+cu130', 'https://download.pytorch.org/whl/cu130', 'gpu'), 'linux', { kind: 'cuda', cuda: '13.0', source: 'gpu' }],
    // A mirror is recognised by the label, an unlabelled build on a PyTorch-style path by the URL.
    [pkg('2.8.0+cu128', 'https://mirror.example/torch/simple', 'mirror'), 'win32', { kind: 'cuda', cuda: '12.8' }],
    [pkg('2.8.0', 'https://mirror.example/whl/cu126/', 'mirror'), 'linux', { kind: 'cuda', cuda: '12.6' }],
    [pkg('2.7.0+rocm6.3', 'https://download.pytorch.org/whl/rocm6.3', 'rocm'), 'linux', { kind: 'rocm' }],
    // PyPI's torch: CUDA on Linux, CPU on macOS and Windows.
    [pkg('2.14.1'), 'linux', { kind: 'cuda', source: 'PyPI' }],
    [pkg('2.14.1'), 'darwin', { kind: 'cpu', source: 'PyPI' }],
    [pkg('2.14.1'), 'win32', { kind: 'cpu', source: 'PyPI' }],
  ])('%j on %s', (locked, platform, want) => {
    expect(buildOf(locked, platform)).toMatchObject(want);
  });
});

it('describes builds and selections in one line', () => {
  expect(describeBuild(buildOf(pkg('2.13.0+cpu', 'https://download.pytorch.org/whl/cpu', 'pytorch-cpu'), 'linux'))).toBe('torch 2.13.0+cpu from pytorch-cpu');
  expect(describeSelection({ extras: ['cuda'], groups: ['cuda'] })).toBe('--extras cuda --with cuda');
  expect(describeSelection({ extras: [], groups: [] })).toBe('(no extras or groups)');
});

describe('layoutName', () => {
  const plan = (extras: string[], groups: string[], version = '2.13.0+cpu') => ({ selection: { extras, groups }, torch: { version } });
  it.each([
    ['no torch here', []],
    ['single build', [plan([], []), plan([], [])]],
    ['extras', [plan(['cpu'], []), plan(['cuda'], [], '2.14.1+cu130')]],
    ['groups', [plan([], ['cpu']), plan([], ['cuda'], '2.14.1+cu130')]],
    ['extras + group', [plan(['cpu'], []), plan(['cuda'], ['cuda'], '2.14.1+cu130')]],
    ['extras and groups', [plan(['cpu'], []), plan([], ['cuda'], '2.14.1+cu130')]],
    ['platform markers', [plan([], []), plan([], [], '2.14.1+cu130')]],
  ])('%s', (name, plans) => {
    expect(layoutName(plans)).toBe(name);
  });
});
