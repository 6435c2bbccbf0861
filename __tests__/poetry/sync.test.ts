import type { CommandResult } from '../../src/exec.js';
import { explainPoetryFailure, isTransient, poetryErrorSummary, syncCommand } from '../../src/poetry/sync.js';

// Poetry 2.5.1's own output, as recorded by e2e/index.test.mjs against the local index.
const failed = (stdout: string, stderr = ''): CommandResult => ({ exitCode: 1, stdout, stderr, timedOut: false });
const indexDown = failed(`Installing dependencies from lock file

Package operations: 10 installs, 0 updates, 0 removals

  - Installing torch (2.13.0+cpu): Failed

  RepositoryError

  All attempts to connect to 127.0.0.1:40123 failed.

  Probable Causes:
   - the server is not responding to requests at the moment
`);
const unavailable = failed(`  - Installing filelock (4.3.1): Failed

  HTTPError

  503 Server Error: Service Unavailable for url: http://127.0.0.1:40123/simple/filelock/

  at .cache/poetry/lib/python3.11/site-packages/requests/models.py:1026 in raise_for_status
      1022│             )
      1023│

Cannot install filelock.
`);

describe('syncCommand', () => {
  it('uses sync on 2.x and install --sync on 1.8, with one flag per extra and group', () => {
    const selection = { extras: ['cuda', 'extra2'], groups: ['cuda'] };
    expect(syncCommand({ command: 'poetry', version: '2.5.1', installedByAction: false }, selection, ['--no-root'])).toEqual([
      'sync',
      '--no-interaction',
      '--no-ansi',
      '--extras=cuda',
      '--extras=extra2',
      '--with=cuda',
      '--no-root',
    ]);
    expect(syncCommand({ command: 'poetry', version: '1.8.5', installedByAction: false }, selection, []).slice(0, 2)).toEqual(['install', '--sync']);
  });
});

describe('failures', () => {
  it('treats an unreachable index and 5xx as transient, a stale lock as not', () => {
    expect(isTransient(indexDown)).toBe(true);
    expect(isTransient(unavailable)).toBe(true);
    expect(isTransient(failed('', 'pyproject.toml changed significantly since poetry.lock was last generated. Run `poetry lock` to fix the lock file.'))).toBe(
      false,
    );
  });

  it("keeps Poetry's words and drops its traceback", () => {
    expect(poetryErrorSummary(unavailable.stdout)).toBe(
      'HTTPError: 503 Server Error: Service Unavailable for url: http://127.0.0.1:40123/simple/filelock/ - Installing filelock (4.3.1): Failed Cannot install filelock.',
    );
  });

  it.each([
    [indexDown, /^The package index 127\.0\.0\.1:40123 could not be reached \(Poetry: RepositoryError: All attempts to connect/],
    [
      failed('', 'pyproject.toml changed significantly since poetry.lock was last generated. Run `poetry lock` to fix the lock file.'),
      /^poetry\.lock is stale .*run `poetry lock` in \/proj and commit poetry\.lock/,
    ],
    [failed('', 'The lock file is not compatible with the current version of Poetry.'), /^poetry\.lock was written by a newer Poetry .*poetry-version input/],
    [failed('', 'Extra [rocm] is not specified.'), /^Poetry says extra \[rocm\] is not specified: declare it in \[tool\.poetry\.extras\]/],
    [failed('', 'Group(s) not found: rocm (via --with)'), /^Poetry says group\(s\) rocm not found: declare \[tool\.poetry\.group\.rocm\]/],
  ])('explains %#', (result, pattern) => {
    const text = explainPoetryFailure(result, '/proj');
    expect(text).toMatch(pattern);
    expect(text).not.toContain('\n');
  });
});
