import { ActionError } from '../../src/errors.js';
import { parseSize, storeConfig } from '../../src/cache/config.js';

describe('storeConfig', () => {
  const selfHosted = { RUNNER_ENVIRONMENT: 'self-hosted', RUNNER_TOOL_CACHE: '/opt/tools', GITHUB_REPOSITORY: 'o/r', GITHUB_REF: 'refs/heads/main' };

  it.each([
    ['self-hosted, empty input: the tool cache', { dir: '', maxSize: '' }, selfHosted, { root: '/opt/tools/setup-poetry-torch', maxBytes: 20 * 2 ** 30 }],
    [
      'GitHub-hosted, empty input: off',
      { dir: '', maxSize: '' },
      { ...selfHosted, RUNNER_ENVIRONMENT: 'github-hosted' },
      { off: 'not a self-hosted runner (set venv-store to a directory to use one anyway)' },
    ],
    ['false: off', { dir: 'false', maxSize: '' }, selfHosted, { off: 'venv-store: false' }],
    [
      'a directory, on any runner',
      { dir: '/mnt/venvs', maxSize: '500M' },
      { ...selfHosted, RUNNER_ENVIRONMENT: 'github-hosted' },
      { root: '/mnt/venvs', maxBytes: 500 * 2 ** 20 },
    ],
  ])('%s', (_name, raw, env, expected) => {
    expect(storeConfig(raw, env)).toMatchObject(expected);
  });

  it('rejects a relative directory with a one-line error naming the input', () => {
    expect(() => storeConfig({ dir: 'venvs', maxSize: '' }, selfHosted)).toThrow(ActionError);
    expect(() => storeConfig({ dir: 'venvs', maxSize: '' }, selfHosted)).toThrow(/Input 'venv-store' is "venvs"; allowed: an absolute directory, or false\./);
  });
});

describe('parseSize', () => {
  it.each([
    ['20G', 20 * 2 ** 30],
    ['1.5T', 1.5 * 2 ** 40],
    ['10GiB', 10 * 2 ** 30],
    ['512mb', 512 * 2 ** 20],
    ['4096', 4096],
  ])('%s', (value, bytes) => expect(parseSize('venv-store-max-size', value)).toBe(bytes));

  it.each(['', 'lots', '-1G', '0', '20X'])('rejects %j', (value) => {
    expect(() => parseSize('venv-store-max-size', value)).toThrow(/Input 'venv-store-max-size' is .*; allowed: a size such as 20G/);
  });
});
