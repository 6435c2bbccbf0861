// Proves e2e/harness/{wheels,package-index,poetry,project}.mjs with real Poetry
// and real CPU torch: lock the seed project against the local index, sync it
// every way the action will, break the index, and record what Poetry says.
// Run: node_modules/.bin/node --test e2e/index.test.mjs   (~2-3 min, ~2 GB in /tmp)
//
// Poetry 2.5.1's messages, as observed here (the action matches on these):
//  - index down (connections reset), during install; on STDOUT, not stderr,
//    once per package that failed, each line prefixed "    | ", exit 1:
//      "    | All attempts to connect to 127.0.0.1:<port> failed."
//      "    | Probable Causes:" / "the server is not responding to requests at the moment"
//    (6 tries per URL: 0.5+1+1.5+2+2.5 s of backoff.)
//  - 503 twice then OK: retried silently, exit 0.
//  - 503 for good (6 tries, honours Retry-After), on STDOUT, exit 1:
//      "503 Server Error: Service Unavailable for url: http://127.0.0.1:<port>/simple/<name>/"
//      "Cannot install <name>."
//  - unknown extra, stderr, exit 1:        "Extra [rocm] is not specified."
//  - unknown group, stderr, exit 1:        "Group(s) not found: rocm (via --with)"
//  - stale lock, stderr, exit 1:           "pyproject.toml changed significantly since poetry.lock
//      was last generated. Run `poetry lock` to fix the lock file."
//    (`poetry check --lock` prefixes it with "Error: ")
//  - missing lock: `poetry check --lock` -> "Error: poetry.lock was not found." exit 1;
//    `poetry sync` re-locks silently ("Updating dependencies" / "Writing lock file"), exit 0.
//  - the trap, `poetry sync --extras=cuda` without `--with cuda`: exit 0, no error,
//    and NO torch at all (an installed torch and its deps are removed).
//  - a sync with nothing to do makes no request at all (works with the index down);
//    a sync that installs from Poetry's artifact cache still fetches every project
//    page (no wheel downloads), so it fails with the index down.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPackageIndex } from './harness/package-index.mjs';
import { POETRY_VERSION, ensurePoetry, poetryEnv, poetryWheelhouse, runPoetry } from './harness/poetry.mjs';
import { makeSeedProject } from './harness/project.mjs';
import { DEFAULT_CACHE_ROOT, PYTHON, buildFakeCudaTorchWheel, ensureWheels, readZipMembers, run, runOk } from './harness/wheels.mjs';

const PROBE = 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available())';
const timings = {};

let index;
let poetry;
let work;
let project; // the main seed project, synced back and forth
let env; // Poetry env with a per-run cache dir, so the first lock and sync are really cold
let proxyTrap; // every HTTP(S) proxy points here: anything bound off this box is caught
const escaped = [];

const requestsOf = (fn) => {
  const start = index.requests.length;
  return fn().then((r) => ({ ...r, requests: index.requests.slice(start) }));
};
const poetryIn = (dir, args, e = env) => requestsOf(() => runPoetry(poetry, args, { cwd: dir, env: e }));
const probe = (dir) => run(path.join(dir, '.venv', 'bin', 'python'), ['-c', PROBE]);
const wheelDownloads = (reqs) => reqs.filter((r) => r.path?.endsWith('.whl'));
const explain = (r) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

before(async () => {
  const t0 = Date.now();
  const { dir: wheelsDir } = await ensureWheels();
  const cudaWheelsDir = path.join(DEFAULT_CACHE_ROOT, 'cuda-torch-test-double');
  await buildFakeCudaTorchWheel(cudaWheelsDir);
  poetry = await ensurePoetry(process.env.E2E_POETRY_VERSION || POETRY_VERSION);
  timings.prepareMs = Date.now() - t0;
  index = await startPackageIndex({ wheelsDir, cudaWheelsDir });
  work = await fs.mkdtemp(path.join(tmpdir(), 'spt-index-'));
  proxyTrap = net.createServer((s) =>
    s.once('data', (d) => {
      escaped.push(d.toString().split('\r\n')[0]);
      s.destroy();
    }),
  );
  await new Promise((r) => proxyTrap.listen(0, '127.0.0.1', r));
  const proxy = `http://127.0.0.1:${proxyTrap.address().port}`;
  env = poetryEnv({
    cacheDir: path.join(work, 'poetry-cache'),
    extra: { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy },
  });
  project = path.join(work, 'seed');
});

after(async () => {
  await index?.close();
  proxyTrap?.close();
  if (work) await fs.rm(work, { recursive: true, force: true });
  console.log(`timings (ms): ${JSON.stringify(timings)}`);
});

describe('package index', () => {
  test('serves PEP 503 pages with sha256, requires-python and PEP 658 metadata', async () => {
    const page = await (await fetch(`${index.cpuUrl}torch/`)).text();
    const m = /href="([^"#]+)#sha256=([0-9a-f]{64})"[^>]*data-core-metadata="sha256=([0-9a-f]{64})"/.exec(page);
    assert.ok(m, page);
    assert.match(decodeURIComponent(m[1]), /torch-2\.13\.0\+cpu-cp311/);
    assert.match(page, /data-requires-python="&gt;=3\.10"/);
    const meta = await (await fetch(new URL(`${m[1]}.metadata`, index.url))).text();
    assert.match(meta, /^Version: 2\.13\.0\+cpu$/m);

    const cuda = await (await fetch(`${index.cudaUrl}torch/`)).text();
    assert.match(cuda, /torch-2\.14\.1%2Bcu130-py3-none-any\.whl#sha256=/);
    assert.doesNotMatch(cuda, /\+cpu|%2Bcpu/);
    // PyPI stand-in: dependencies yes, torch no.
    assert.equal((await fetch(`${index.pypiUrl}torch/`)).status, 404);
    assert.equal((await fetch(`${index.pypiUrl}Typing_Extensions/`)).status, 200);
    const root = await (await fetch(index.cpuUrl)).text();
    assert.match(root, /href="\/whl\/cpu\/sympy\/"/);

    const ranged = await fetch(new URL(m[1], index.url), { headers: { range: 'bytes=-22' } });
    assert.equal(ranged.status, 206);
    assert.equal((await ranged.arrayBuffer()).byteLength, 22);
  });

  test('faults: status N times then recovery; down resets connections', async () => {
    index.faults.status = { code: 503, count: 2 };
    assert.equal((await fetch(index.cpuUrl)).status, 503);
    assert.equal((await fetch(index.cpuUrl)).status, 503);
    assert.equal((await fetch(index.cpuUrl)).status, 200);
    assert.equal(index.faults.status, null);
    index.faults.down = true;
    await assert.rejects(fetch(index.cpuUrl, { headers: { connection: 'close' } }));
    index.faults.down = false;
    assert.equal((await fetch(index.cpuUrl)).status, 200);
    assert.ok(index.requests.some((r) => r.status === 'down'));
  });
});

describe('CUDA torch test double', () => {
  test('is a valid, reproducible wheel that looks like CUDA torch without a GPU', async () => {
    const a = await buildFakeCudaTorchWheel(path.join(work, 'double-a'));
    const b = await buildFakeCudaTorchWheel(path.join(work, 'double-b'));
    assert.equal(path.basename(a), 'torch-2.14.1+cu130-py3-none-any.whl');
    assert.deepEqual(await fs.readFile(a), await fs.readFile(b));
    const members = await readZipMembers(a, () => true);
    assert.match(members.get('torch/__init__.py').toString(), /TEST DOUBLE/);
    // Python checks the RECORD hashes and the runtime surface.
    const venv = path.join(work, 'double-venv');
    await runOk(PYTHON, ['-m', 'venv', '--without-pip', venv]);
    const py = path.join(venv, 'bin', 'python');
    const site = (await runOk(py, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])).stdout.trim();
    await runOk(py, ['-c', `import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])`, a, site]);
    const r = await runOk(py, [
      '-c',
      `
import base64, hashlib, os, sys, torch
site = sys.argv[1]
for line in open(os.path.join(site, "torch-2.14.1+cu130.dist-info", "RECORD")):
    name, h, size = line.strip().split(",")
    if not h: continue
    data = open(os.path.join(site, name), "rb").read()
    assert h == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode(), name
    assert int(size) == len(data), name
print(torch.__version__, torch.version.cuda, torch.version.hip, torch.cuda.is_available(), torch.cuda.device_count())
print(torch.cuda.get_arch_list(), torch.backends.cudnn.version())
for f in (torch.cuda.get_device_name, torch.cuda.get_device_capability):
    try:
        f(0)
    except RuntimeError as e:
        print("raised", e)
`,
      site,
    ]);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '2.14.1+cu130 13.0 None False 0');
    assert.equal(lines[1], "['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'] None");
    assert.match(lines[2], /^raised Found no NVIDIA driver on your system/);
    assert.equal(lines.length, 4);
  });
});

describe('seed project with real Poetry', () => {
  test('locks against the local index only, and a second copy reuses the lock', async () => {
    const start = index.requests.length;
    const p = await makeSeedProject(project, { index, poetry, env });
    timings.coldLockMs = p.lockCached ? 'cached' : p.lockMs;
    const lock = await fs.readFile(p.lockFile, 'utf8');
    // Both torches, each from its own source; every source is the local index.
    assert.match(lock, /name = "torch"\nversion = "2\.13\.0\+cpu"/);
    assert.match(lock, /name = "torch"\nversion = "2\.14\.1\+cu130"/);
    const urls = [...lock.matchAll(/^url = "([^"]+)"/gm)].map((m) => m[1]);
    assert.ok(urls.length > 0 && urls.every((u) => u.startsWith(index.url)), urls.join('\n'));
    if (!p.lockCached) {
      const paths = index.requests.slice(start).map((r) => r.path);
      assert.ok(paths.includes('/whl/cpu/torch/') && paths.includes('/whl/cu130/torch/'), paths.join('\n'));
      // PEP 658 metadata: locking never downloads a wheel.
      assert.equal(paths.filter((x) => x.endsWith('.whl')).length, 0, paths.join('\n'));
    }

    const t0 = Date.now();
    const again = await makeSeedProject(path.join(work, 'seed-again'), { index, poetry });
    assert.equal(again.lockCached, true);
    assert.equal(await fs.readFile(again.lockFile, 'utf8'), lock);
    timings.cachedLockMs = Date.now() - t0;
  });

  test('a fixed port makes a lock reusable after the index restarts', async () => {
    const { dir: wheelsDir } = await ensureWheels();
    const cudaWheelsDir = path.join(DEFAULT_CACHE_ROOT, 'cuda-torch-test-double');
    let other = await startPackageIndex({ wheelsDir, cudaWheelsDir });
    const { port } = other;
    try {
      const first = await makeSeedProject(path.join(work, 'fixed-1'), { index: other, poetry });
      await other.close();
      other = await startPackageIndex({ wheelsDir, cudaWheelsDir, port });
      assert.equal(other.url, `http://127.0.0.1:${port}/`);
      const second = await makeSeedProject(path.join(work, 'fixed-2'), { index: other, poetry });
      assert.equal(second.lockCached, true);
      assert.equal(await fs.readFile(second.lockFile, 'utf8'), await fs.readFile(first.lockFile, 'utf8'));
    } finally {
      await other.close();
    }
  });

  test('plus-one-package differs from the seed lock by one package', async () => {
    const p = await makeSeedProject(path.join(work, 'plus-one'), { index, poetry, variant: 'plus-one-package' });
    const names = async (f) => [...(await fs.readFile(f, 'utf8')).matchAll(/^name = "([^"]+)"/gm)].map((m) => m[1]);
    const seed = await names(path.join(project, 'poetry.lock'));
    const plus = await names(p.lockFile);
    assert.deepEqual(
      plus.filter((n) => !seed.includes(n)),
      ['six'],
    );
    assert.equal(plus.length, seed.length + 1);
  });

  test('sync --extras=cpu installs CPU torch (cold: empty Poetry cache)', async () => {
    const r = await poetryIn(project, ['sync', '--extras=cpu']);
    assert.equal(r.code, 0, explain(r));
    timings.coldCpuSyncMs = r.ms;
    assert.ok(wheelDownloads(r.requests).some((q) => q.path.startsWith('/whl/cpu/torch-2.13.0+cpu')));
    const p = await probe(project);
    assert.equal(p.stdout.trim(), '2.13.0+cpu None False', p.stderr);
  });

  test("re-sync into a fresh venv comes from Poetry's artifact cache (pages only, no wheels)", async () => {
    await fs.rm(path.join(project, '.venv'), { recursive: true, force: true });
    const r = await poetryIn(project, ['sync', '--extras=cpu']);
    assert.equal(r.code, 0, explain(r));
    timings.artifactCacheCpuSyncMs = r.ms;
    assert.deepEqual(wheelDownloads(r.requests), []);
    assert.ok(r.requests.some((q) => q.path === '/whl/cpu/torch/'));
    assert.equal((await probe(project)).stdout.trim(), '2.13.0+cpu None False');
  });

  test('a sync with nothing to do makes no request (index down is fine)', async () => {
    index.faults.down = true;
    try {
      const r = await poetryIn(project, ['sync', '--extras=cpu']);
      assert.equal(r.code, 0, explain(r));
      timings.noopSyncMs = r.ms;
      assert.match(r.stdout, /No dependencies to install or update/);
      assert.deepEqual(r.requests, []);
    } finally {
      index.faults.down = false;
    }
  });

  test('sync --extras=cuda --with cuda installs the CUDA torch (test double)', async () => {
    const r = await poetryIn(project, ['sync', '--extras=cuda', '--with', 'cuda']);
    assert.equal(r.code, 0, explain(r));
    timings.cpuToCudaSyncMs = r.ms;
    assert.match(r.stdout, /Updating torch \(2\.13\.0\+cpu -> 2\.14\.1\+cu130\)/);
    assert.equal((await probe(project)).stdout.trim(), '2.14.1+cu130 13.0 False');
    const check = await run(path.join(project, '.venv', 'bin', 'python'), [path.join(project, 'check.py'), 'cuda']);
    assert.equal(check.code, 0, check.stderr);
  });

  test('the trap: sync --extras=cuda without --with cuda silently leaves no torch', async () => {
    const r = await poetryIn(project, ['sync', '--extras=cuda']);
    assert.equal(r.code, 0, explain(r)); // no error...
    assert.match(r.stdout, /Removing torch \(2\.14\.1\+cu130\)/); // ...the CUDA torch is removed
    assert.doesNotMatch(r.stdout + r.stderr, /Installing torch/); // ...and nothing replaces it
    const p = await probe(project);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /ModuleNotFoundError: No module named 'torch'/);
  });

  test('503 twice then recovery: Poetry retries and the sync succeeds', async () => {
    // The venv is empty after the trap, so this sync fetches pages and installs.
    index.faults.status = { code: 503, count: 2 };
    const r = await poetryIn(project, ['sync', '--extras=cpu']);
    assert.equal(r.code, 0, explain(r));
    timings.cpuSyncAfter503x2Ms = r.ms;
    const failed = r.requests.filter((q) => q.fault === 503).map((q) => q.path);
    assert.equal(failed.length, 2);
    for (const p of failed)
      assert.ok(
        r.requests.some((q) => q.path === p && q.status === 200),
        p,
      );
    assert.equal((await probe(project)).stdout.trim(), '2.13.0+cpu None False');
  });

  test('503 for good: Poetry gives up after 6 tries per URL', async () => {
    await fs.rm(path.join(project, '.venv'), { recursive: true, force: true });
    // Only the torch page fails; Retry-After: 0 skips Poetry's 7.5 s of backoff.
    index.faults.match = '/whl/cpu/torch/';
    index.faults.status = { code: 503, count: 1000, retryAfter: 0 };
    try {
      const r = await poetryIn(project, ['sync', '--extras=cpu']);
      assert.equal(r.code, 1, explain(r));
      assert.equal(r.requests.filter((q) => q.fault === 503).length, 6);
      assert.ok(r.stdout.includes(`503 Server Error: Service Unavailable for url: ${index.cpuUrl}torch/`), explain(r));
      assert.match(r.stdout, /Cannot install torch\./);
    } finally {
      index.faults.status = null;
      index.faults.match = null;
    }
  });

  test('index down: sync fails naming the host (on stdout)', async () => {
    await fs.rm(path.join(project, '.venv'), { recursive: true, force: true });
    index.faults.down = true;
    try {
      const r = await poetryIn(project, ['sync', '--extras=cpu']);
      assert.equal(r.code, 1, explain(r));
      timings.downSyncMs = r.ms;
      const host = new URL(index.url).host;
      assert.ok(r.stdout.includes(`| All attempts to connect to ${host} failed.`), explain(r));
      assert.ok(!r.stderr.includes('All attempts'), 'Poetry reports install-time errors on stdout');
      assert.ok(r.requests.length > 0 && r.requests.every((q) => q.status === 'down'));
    } finally {
      index.faults.down = false;
    }
  });

  test('usage errors: unknown extra, unknown group', async () => {
    const extra = await poetryIn(project, ['sync', '--extras=rocm']);
    assert.equal(extra.code, 1);
    assert.match(extra.stderr, /^Extra \[rocm\] is not specified\.$/m);
    const group = await poetryIn(project, ['sync', '--extras=cpu', '--with', 'rocm']);
    assert.equal(group.code, 1);
    assert.match(group.stderr, /^Group\(s\) not found: rocm \(via --with\)$/m);
  });

  test('stale lock and missing lock', async () => {
    // The seed lock under a pyproject with one more dependency: stale.
    const dir = path.join(work, 'stale');
    await makeSeedProject(dir, { index, poetry, variant: 'plus-one-package', lock: false });
    await fs.copyFile(path.join(project, 'poetry.lock'), path.join(dir, 'poetry.lock'));
    const stale = 'pyproject.toml changed significantly since poetry.lock was last generated. ' + 'Run `poetry lock` to fix the lock file.';
    const sync = await poetryIn(dir, ['sync', '--extras=cpu']);
    assert.equal(sync.code, 1, explain(sync));
    assert.ok(sync.stderr.includes(stale), explain(sync));
    const check = await poetryIn(dir, ['check', '--lock']);
    assert.equal(check.code, 1);
    assert.ok(check.stderr.includes(`Error: ${stale}`), explain(check));

    await fs.rm(path.join(dir, 'poetry.lock'));
    const missing = await poetryIn(dir, ['check', '--lock']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: poetry\.lock was not found\.$/m);
    // sync without a lock does not fail: it locks (needs the index) and installs.
    const relock = await poetryIn(dir, ['sync', '--extras=cuda', '--with', 'cuda']);
    assert.equal(relock.code, 0, explain(relock));
    assert.match(relock.stdout, /Writing lock file/);
    assert.equal((await probe(dir)).stdout.trim(), '2.14.1+cu130 13.0 False');
  });
});

describe('offline guard', () => {
  test('nothing Poetry did above left this machine', () => {
    assert.deepEqual(escaped, []);
  });

  test('the guard works: a project without sources makes Poetry try pypi.org, and is caught', async () => {
    const dir = path.join(work, 'pypi-probe');
    await fs.mkdir(dir);
    await fs.writeFile(
      path.join(dir, 'pyproject.toml'),
      '[tool.poetry]\npackage-mode = false\n[tool.poetry.dependencies]\npython = ">=3.11,<3.14"\nsix = "*"\n',
    );
    const r = await poetryIn(dir, ['lock']); // ~8 s: Poetry retries the proxy error with backoff
    assert.notEqual(r.code, 0, explain(r));
    assert.ok(
      escaped.some((l) => /^CONNECT pypi\.org:443 /.test(l)),
      escaped.join('\n'),
    );
  });
});

describe('Poetry wheelhouse', () => {
  test('installs Poetry with pip and no index', async () => {
    const house = await poetryWheelhouse(poetry.version);
    const venv = path.join(work, 'pip-poetry');
    await runOk(PYTHON, ['-m', 'venv', venv]);
    // PIP_CONFIG_FILE=/dev/null: this host's pip config adds find-links/indexes of its own.
    const pipEnv = { ...process.env, ...house.env, PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    const r = await run(path.join(venv, 'bin', 'pip'), ['install', '-q', `poetry==${poetry.version}`], { env: pipEnv });
    assert.equal(r.code, 0, explain(r));
    const v = await runOk(path.join(venv, 'bin', 'poetry'), ['--version']);
    assert.equal(v.stdout.trim(), `Poetry (version ${poetry.version})`);
  });
});
