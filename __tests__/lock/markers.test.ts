import { ActionError } from '../../src/errors.js';
import { evaluate, markerExtras, markerHolds, normaliseExtra, parseMarker, runnerMarkerEnvironment, withExtras } from '../../src/lock/markers.js';

const linux = runnerMarkerEnvironment('linux', 'x64', '3.11.9');
const holds = (marker: string, extras: string[] = [], env = linux): boolean => markerHolds(marker, withExtras(env, extras), 'poetry.lock');

describe('runnerMarkerEnvironment', () => {
  it.each([
    ['linux', 'x64', 'linux', 'Linux', 'x86_64', 'posix'],
    ['linux', 'arm64', 'linux', 'Linux', 'aarch64', 'posix'],
    ['darwin', 'arm64', 'darwin', 'Darwin', 'arm64', 'posix'],
    ['darwin', 'x64', 'darwin', 'Darwin', 'x86_64', 'posix'],
    ['win32', 'x64', 'win32', 'Windows', 'AMD64', 'nt'],
    ['win32', 'arm64', 'win32', 'Windows', 'ARM64', 'nt'],
  ] as const)('%s/%s is sys_platform %s, platform_system %s, platform_machine %s', (platform, arch, sys, system, machine, os) => {
    const env = runnerMarkerEnvironment(platform, arch, '3.12.4', ['CUDA_12']);
    expect(env).toMatchObject({ sys_platform: sys, platform_system: system, platform_machine: machine, os_name: os });
    expect(env).toMatchObject({
      python_version: '3.12',
      python_full_version: '3.12.4',
      implementation_name: 'cpython',
      platform_python_implementation: 'CPython',
    });
    expect([...env.extras]).toEqual(['cuda-12']);
  });
});

describe('extras (a set, as Poetry evaluates several at once)', () => {
  const seedCpu = "extra=='cpu' and extra!='cuda'";
  const seedCuda = "extra=='cuda' and extra!='cpu'";
  it.each([
    [[], false, false],
    [['cpu'], true, false],
    [['cuda'], false, true],
    [['cpu', 'cuda'], false, false],
  ])('with extras %j: cpu torch %s, cuda torch %s', (extras, cpu, cuda) => {
    expect(holds(seedCpu, extras)).toBe(cpu);
    expect(holds(seedCuda, extras)).toBe(cuda);
  });

  it('normalises names (PEP 685) on both sides', () => {
    expect(normaliseExtra('CUDA__12.x')).toBe('cuda-12-x');
    expect(holds('extra == "Cuda_12"', ['cuda-12'])).toBe(true);
    expect(holds('"cuda.12" == extra', ['CUDA-12'])).toBe(true);
    expect(holds('extra != "cuda-12"', ['cuda_12'])).toBe(false);
  });

  it('lists the extras a marker mentions', () => {
    expect(markerExtras(parseMarker('sys_platform == "linux" and (extra == "CPU" or extra != "cuda")', 'f'))).toEqual(['cpu', 'cuda']);
    expect(markerExtras(parseMarker('', 'f'))).toEqual([]);
  });
});

describe('platform, python and operators', () => {
  it.each([
    ['sys_platform == "linux"', true],
    ['sys_platform == "darwin"', false],
    ["'linux' == sys_platform", true],
    ['platform_system == "Linux" and platform_machine == "x86_64"', true],
    ['platform_machine == "aarch64"', false],
    ['sys_platform != "darwin"', true],
    ['platform_machine in "x86_64 AMD64"', true],
    ['platform_machine not in "x86_64 AMD64"', false],
    ['"x86" in platform_machine', true],
    ['python_version >= "3.10"', true],
    ['python_version >= "3.12"', false],
    ['python_version < "3.9"', false],
    ['python_version == "3.11"', true],
    ['python_version == "3.11.*"', true],
    ['python_version ~= "3.10"', true],
    ['python_full_version >= "3.11.10"', false],
    ['python_full_version >= "3.11.9" and python_full_version < "3.12.0"', true],
    ['"3.12" > python_version', true],
    ['os_name == "posix" and implementation_name == "cpython"', true],
    ['platform_python_implementation == "PyPy"', false],
  ])('%s -> %s on linux x64 with CPython 3.11.9', (marker, want) => {
    expect(holds(marker)).toBe(want);
  });

  it('binds and tighter than or, and honours parentheses', () => {
    expect(holds('sys_platform == "darwin" or sys_platform == "linux" and extra == "cuda"')).toBe(false);
    expect(holds('sys_platform == "darwin" or sys_platform == "linux" and extra == "cuda"', ['cuda'])).toBe(true);
    expect(holds('(sys_platform == "darwin" or sys_platform == "linux") and extra == "cuda"')).toBe(false);
    expect(holds('(sys_platform == "linux" or sys_platform == "darwin") and (extra == "cpu" or extra == "cuda")', ['cpu'])).toBe(true);
  });

  it('compares the same markers on macOS and Windows runners', () => {
    const mac = runnerMarkerEnvironment('darwin', 'arm64', '3.13.1');
    const windows = runnerMarkerEnvironment('win32', 'x64', '3.13.1');
    const pytorchMac = 'sys_platform == "darwin" and platform_machine == "arm64"';
    expect(holds(pytorchMac, [], mac)).toBe(true);
    expect(holds(pytorchMac, [], windows)).toBe(false);
    expect(holds('platform_system == "Windows" and platform_machine == "AMD64"', [], windows)).toBe(true);
  });

  it('treats an empty marker as always true', () => {
    expect(evaluate(parseMarker('  ', 'f'), linux)).toBe(true);
    expect(markerHolds(undefined, linux, 'f')).toBe(true);
  });
});

describe('errors', () => {
  it.each(['sys_platform = "linux"', 'python_version >=', 'foo == "bar"', 'extra == "cpu" and'])(
    '%s is one ActionError naming the file and the marker',
    (marker) => {
      expect(() => parseMarker(marker, '/p/pyproject.toml')).toThrow(ActionError);
      expect(() => parseMarker(marker, '/p/pyproject.toml')).toThrow(`/p/pyproject.toml has a marker that is not valid PEP 508: ${JSON.stringify(marker)}`);
    },
  );
});
