import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { wantsInProjectVenv } from '../../src/poetry/venv.js';

let project: string;
beforeEach(() => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'poetry-venv-'));
});
afterEach(() => fs.rmSync(project, { recursive: true, force: true }));

describe('wantsInProjectVenv', () => {
  it.each([
    ['no poetry.toml', undefined, {}, true],
    ['in-project = false in poetry.toml', '[virtualenvs]\nin-project = false\n', {}, false],
    ['a dotted key', 'virtualenvs.in-project = false\n', {}, false],
    ['a commented-out setting (the old regex read it as set)', '[virtualenvs]\n# in-project = false\n', {}, true],
    ['in-project = true', '[virtualenvs]\nin-project = true\n', {}, true],
    ['an unreadable poetry.toml (Poetry would fail on it itself)', '[virtualenvs\n', {}, true],
    ['POETRY_VIRTUALENVS_IN_PROJECT=false', undefined, { POETRY_VIRTUALENVS_IN_PROJECT: 'false' }, false],
    ['POETRY_VIRTUALENVS_IN_PROJECT=0', undefined, { POETRY_VIRTUALENVS_IN_PROJECT: '0' }, false],
  ])('%s', (_name, toml, env, expected) => {
    if (toml !== undefined) fs.writeFileSync(path.join(project, 'poetry.toml'), toml);
    expect(wantsInProjectVenv(project, env)).toBe(expected);
  });
});
