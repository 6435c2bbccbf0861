// Wheels for the e2e tests: the real CPU torch and its dependencies (fetched once
// with pip into .cache/), a tiny CUDA-torch TEST DOUBLE built here, and the small
// zip/process helpers the other harness modules share.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_CACHE_ROOT = path.join(REPO_ROOT, '.cache');

// The interpreter the tests (and the venvs Poetry makes) use; torch below is cp311.
export const PYTHON = process.env.E2E_PYTHON || 'python3';

export const CPU_TORCH = 'torch==2.13.0+cpu';
// torch 2.13's Requires-Dist, plus what they pull in (mpmath, markupsafe).
export const TORCH_DEPS = ['filelock', 'typing-extensions', 'setuptools', 'sympy', 'mpmath', 'networkx', 'jinja2', 'markupsafe', 'fsspec'];
// Tiny pure-Python packages for "one package changed in the lock" scenarios.
export const SMALL_PACKAGES = ['six', 'packaging'];

/**
 * Run a command; resolves { code, stdout, stderr, ms } and never rejects on a
 * non-zero exit (callers assert on it), only when the program cannot start.
 */
export function run(cmd, args, { cwd, env, input, timeoutMs } = {}) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : null;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr, ms: Date.now() - t0 });
    });
    child.stdin.end(input ?? '');
  });
}

/** Like run(), but throws with the output when the command fails. */
export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

export async function exists(p) {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Serialise work on a shared cache entry across processes: `node --test` runs
 * test files in parallel and they all want the same downloads. mkdir is atomic;
 * a lock older than staleMs is assumed to belong to a dead process.
 */
export async function withDirLock(lockPath, fn, { staleMs = 15 * 60_000 } = {}) {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lockPath);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const st = await fs.stat(lockPath).catch(() => null);
      if (st && Date.now() - st.mtimeMs > staleMs) await fs.rm(lockPath, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { recursive: true, force: true });
  }
}

/**
 * A directory of every wheel the seed project needs, so the local index can
 * serve a complete install with no outside network. Idempotent: a marker file
 * records what was fetched, and a second call only checks it.
 */
export async function ensureWheels(cacheRoot = DEFAULT_CACHE_ROOT) {
  const dir = path.join(cacheRoot, 'wheels-cp311');
  const marker = path.join(dir, '.complete.json');
  const want = JSON.stringify({ torch: CPU_TORCH, deps: TORCH_DEPS, small: SMALL_PACKAGES });
  const ok = async () => (await fs.readFile(marker, 'utf8').catch(() => null)) === want;
  if (await ok()) return { dir };
  await withDirLock(`${dir}.lock`, async () => {
    if (await ok()) return;
    await fs.mkdir(dir, { recursive: true });
    const pip = [PYTHON, ['-m', 'pip', 'download', '--disable-pip-version-check', '-q', '-d', dir]];
    // --no-deps for torch: its dependency list is fetched explicitly below, and
    // pip must not go looking for anything else torch might name.
    await runOk(pip[0], [...pip[1], '--no-deps', CPU_TORCH]);
    await runOk(pip[0], [...pip[1], '--only-binary=:all:', ...TORCH_DEPS, ...SMALL_PACKAGES]);
    await fs.writeFile(marker, want);
  });
  return { dir };
}

// ---------------------------------------------------------------------------
// Zip: Python's zipfile writes wheels (write_zip.py); reading one member (METADATA) back
// touches only the central directory and that member.

const WRITE_ZIP = fileURLToPath(new URL('./write_zip.py', import.meta.url));

/** Write a zip of [{ name, data }] to `out` with fixed timestamps: same input, same bytes. */
export async function writeZip(out, entries) {
  const spec = { out, entries: entries.map(({ name, data }) => ({ name, data: Buffer.from(data).toString('base64') })) };
  await runOk(PYTHON, [WRITE_ZIP], { input: JSON.stringify(spec) });
}

/**
 * Read the members whose names pass `want` from a zip on disk, touching only the
 * central directory and those members (torch's wheel is ~190 MB).
 */
export async function readZipMembers(file, want) {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const read = async (pos, len) => {
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      return buf;
    };
    return await readZipMembersFrom({ name: file, size, read }, want);
  } finally {
    await fh.close();
  }
}

/**
 * readZipMembers over any random-access source: { name, size, read(pos, len) -> Buffer }.
 * A remote wheel read with HTTP ranges costs a few KB this way (see pypi-record.mjs).
 */
export async function readZipMembersFrom({ name: file, size, read }, want) {
  const tailLen = Math.min(size, 65_557); // EOCD (22) + max comment (65535)
  const tail = await read(size - tailLen, tailLen);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${file}: not a zip`);
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  const loc = eocd - 20; // zip64 end-of-central-directory locator
  if (loc >= 0 && tail.readUInt32LE(loc) === 0x07064b50) {
    const z64at = Number(tail.readBigUInt64LE(loc + 8));
    const z64 = await read(z64at, 56);
    count = Number(z64.readBigUInt64LE(32));
    cdSize = Number(z64.readBigUInt64LE(40));
    cdOffset = Number(z64.readBigUInt64LE(48));
  }
  const cd = await read(cdOffset, cdSize);
  const out = new Map();
  for (let p = 0, i = 0; i < count; i++) {
    const method = cd.readUInt16LE(p + 10);
    let compSize = cd.readUInt32LE(p + 20);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    if (want(name)) {
      // zip64 extra field carries the real sizes/offset when the 32-bit ones are maxed.
      const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      for (let e = 0; e + 4 <= extra.length;) {
        const id = extra.readUInt16LE(e);
        const len = extra.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (cd.readUInt32LE(p + 24) === 0xffffffff) q += 8;
          if (compSize === 0xffffffff) {
            compSize = Number(extra.readBigUInt64LE(q));
            q += 8;
          }
          if (localOffset === 0xffffffff) localOffset = Number(extra.readBigUInt64LE(q));
        }
        e += 4 + len;
      }
      const lh = await read(localOffset, 30);
      const dataAt = localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      const comp = await read(dataAt, compSize);
      if (method === 0) out.set(name, comp);
      else if (method === 8) out.set(name, zlib.inflateRawSync(comp));
      else throw new Error(`${file}: ${name}: unsupported zip method ${method}`);
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** The core metadata (the .dist-info/METADATA file) of a wheel, as bytes. */
export async function readWheelMetadata(file) {
  const members = await readZipMembers(file, (n) => /^[^/]+\.dist-info\/METADATA$/.test(n));
  const [data] = members.values();
  if (!data) throw new Error(`${file}: no .dist-info/METADATA`);
  return data;
}

// ---------------------------------------------------------------------------
// The CUDA torch TEST DOUBLE.

const b64sha256 = (buf) => createHash('sha256').update(buf).digest('base64url');

/** Write a valid wheel (METADATA, WHEEL, RECORD with sha256s) and return its path. */
export async function buildWheel(outDir, { name, version, tag = 'py3-none-any', metadata, files }) {
  const distInfo = `${name}-${version}.dist-info`;
  const entries = [...files];
  entries.push({ name: `${distInfo}/METADATA`, data: metadata });
  entries.push({
    name: `${distInfo}/WHEEL`,
    data: `Wheel-Version: 1.0\nGenerator: setup-poetry-torch e2e harness\nRoot-Is-Purelib: true\nTag: ${tag}\n\n`,
  });
  const record =
    entries
      .map(({ name: n, data }) => {
        const buf = Buffer.from(data);
        return `${n},sha256=${b64sha256(buf)},${buf.length}\n`;
      })
      .join('') + `${distInfo}/RECORD,,\n`;
  entries.push({ name: `${distInfo}/RECORD`, data: record });
  await fs.mkdir(outDir, { recursive: true });
  const file = path.join(outDir, `${name}-${version}-${tag}.whl`);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeZip(tmp, entries);
  await fs.rename(tmp, file); // atomic: a concurrent index never serves half a wheel
  return file;
}

const DEFAULT_ARCH_LIST = ['sm_75', 'sm_80', 'sm_86', 'sm_90', 'sm_100', 'sm_120'];

/**
 * Build `torch-<version>+<label>-py3-none-any.whl`, a few-KB TEST DOUBLE standing in
 * for a CUDA build of torch (the real one is ~3 GB and can't be fetched here). It
 * looks like a CUDA torch on a machine without a GPU: torch.version.cuda is set,
 * torch.cuda.is_available() is False, device queries raise.
 *
 * Differs from real torch on purpose in one place: real get_arch_list() returns []
 * when CUDA is unavailable; the double returns the compiled list so tests can see
 * it. Pass { archListWithoutGpu: false } for the faithful behaviour.
 *
 * requires: the Requires-Dist lines (default: real torch's, without nvidia-*), so
 * a lock holding the double has the same dependency shape as one with real torch.
 */
export async function buildFakeCudaTorchWheel(
  outDir,
  {
    version = '2.14.1',
    cuda = '13.0',
    label = 'cu130',
    archList = DEFAULT_ARCH_LIST,
    archListWithoutGpu = true,
    requires = ['filelock', 'typing-extensions>=4.10.0', 'setuptools', 'sympy>=1.13.3', 'networkx>=2.5.1', 'jinja2', 'fsspec>=0.8.5'],
  } = {},
) {
  const full = `${version}+${label}`;
  const py = (s) => JSON.stringify(s); // JSON strings are valid Python literals
  const noDriver =
    'Found no NVIDIA driver on your system. Please check that you have an ' +
    'NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx';
  const files = [
    {
      name: 'torch/__init__.py',
      data: `# TEST DOUBLE: not PyTorch. A tiny stand-in for a CUDA build of torch ${full},
# built by setup-poetry-torch's e2e harness (e2e/harness/wheels.mjs) so tests can
# install "CUDA torch" without a 3 GB download. It behaves like CUDA torch on a
# machine with no GPU; it has no tensors.
from . import version, cuda, backends
from .version import __version__

__all__ = ["version", "cuda", "backends", "__version__"]
TEST_DOUBLE = True
`,
    },
    {
      name: 'torch/version.py',
      data: `# TEST DOUBLE (see torch/__init__.py).
__version__ = ${py(full)}
cuda = ${py(cuda)}
hip = None
git_version = "test-double"
debug = False
`,
    },
    {
      name: 'torch/cuda/__init__.py',
      data: `# TEST DOUBLE (see torch/__init__.py): CUDA build, no driver, no GPU.
_ARCH_LIST = ${py(archList)}
_NO_DRIVER = ${py(noDriver)}


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def get_arch_list():
    # Real torch returns [] when CUDA is unavailable; see wheels.mjs.
    return list(_ARCH_LIST) if ${archListWithoutGpu ? 'True' : 'False'} else []


def _lazy_init():
    # Real torch raises this from _cuda_init() when no driver is loaded.
    raise RuntimeError(_NO_DRIVER)


def current_device():
    _lazy_init()


def get_device_name(device=None):
    _lazy_init()


def get_device_capability(device=None):
    _lazy_init()


def get_device_properties(device=None):
    _lazy_init()
`,
    },
    { name: 'torch/backends/__init__.py', data: '# TEST DOUBLE (see torch/__init__.py).\nfrom . import cudnn\n' },
    {
      name: 'torch/backends/cudnn/__init__.py',
      data: `# TEST DOUBLE (see torch/__init__.py): no GPU, so no cuDNN.
def is_available():
    return False


def version():
    return None
`,
    },
  ];
  const metadata = [
    'Metadata-Version: 2.1',
    'Name: torch',
    `Version: ${full}`,
    `Summary: TEST DOUBLE standing in for a CUDA ${cuda} build of PyTorch (e2e tests only)`,
    'Requires-Python: >=3.10',
    ...requires.map((r) => `Requires-Dist: ${r}`),
    '',
    '',
  ].join('\n');
  return buildWheel(outDir, { name: 'torch', version: full, metadata, files });
}
