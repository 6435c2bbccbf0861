// A recorded slice of PyPI, served by the local index without wheel bodies: the
// project pages (every file's name, sha256, Requires-Python) and the core metadata
// of each file Poetry looked at. It lets `poetry lock` resolve the real torch 2.14.1
// CUDA build with its real nvidia-*, cuda-toolkit, triton... metadata while reading a
// few hundred KB instead of the multi-GB wheels.
//
// Recording (once, with network to PyPI): start the index with `upstream` set and run
// `poetry lock` against it; every page Poetry asks for comes from PyPI's simple API
// (JSON), every METADATA is read out of the remote wheel with HTTP ranges (this PyPI
// serves no PEP 658 files). `npm run record-cuda-index` does that and writes
// e2e/fixtures/pypi-cuda13.json.gz; the tests replay it offline.
import { promises as fs } from 'node:fs';
import zlib from 'node:zlib';
import { readZipMembersFrom } from './wheels.mjs';

export const PYPI_SIMPLE = 'https://pypi.org/simple/';

// The torch download.pytorch.org/whl/cu130 serves: PyPI's CUDA 13.0 build, labelled.
export const CUDA_TORCH = { version: '2.14.1', label: 'cu130' };

/** { projects: { [route]: { [project]: [[filename, sha256, requiresPython, size, yanked]] } }, metadata: { [filename]: text } } */
export function emptyRecording() {
  return { source: PYPI_SIMPLE, projects: { simple: {}, 'whl/cu130': {} }, metadata: {} };
}

export async function loadRecording(file) {
  return JSON.parse(zlib.gunzipSync(await fs.readFile(file)).toString('utf8'));
}

export async function saveRecording(file, recording) {
  // Sorted keys: a re-recording that saw the same thing writes the same bytes.
  const sort = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  const out = {
    source: recording.source,
    projects: Object.fromEntries(Object.entries(recording.projects).map(([r, ps]) => [r, sort(ps)])),
    metadata: sort(recording.metadata),
  };
  await fs.writeFile(file, zlib.gzipSync(JSON.stringify(out, null, 0), { level: 9, mtime: 0 }));
}

async function getOk(url, headers = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(url, { headers });
      if (res.ok) return res;
      if (res.status < 500 || attempt >= 4) throw new Error(`${url}: HTTP ${res.status}`);
    } catch (e) {
      if (attempt >= 4) throw e;
    }
    await new Promise((r) => setTimeout(r, 500 * attempt));
  }
}

/** A project's files from a PEP 691 JSON simple page: [[filename, sha256, requiresPython, size, yanked, url]]. */
export async function fetchProjectFiles(project, base = PYPI_SIMPLE) {
  const res = await getOk(`${base}${project}/`, { accept: 'application/vnd.pypi.simple.v1+json' });
  const page = await res.json();
  return page.files.map((f) => [f.filename, f.hashes.sha256, f['requires-python'] ?? null, f.size ?? null, Boolean(f.yanked), f.url]);
}

/** The METADATA of a remote wheel, read with HTTP range requests (EOCD, central directory, one member). */
export async function fetchRemoteWheelMetadata(url, size) {
  const read = async (pos, len) => {
    const res = await getOk(url, { range: `bytes=${pos}-${pos + len - 1}` });
    const buf = Buffer.from(await res.arrayBuffer());
    if (res.status !== 206 || buf.length !== len) throw new Error(`${url}: range ${pos}+${len} gave ${res.status}, ${buf.length} bytes`);
    return buf;
  };
  const members = await readZipMembersFrom({ name: url, size, read }, (n) => /^[^/]+\.dist-info\/METADATA$/.test(n));
  const [data] = members.values();
  if (!data) throw new Error(`${url}: no .dist-info/METADATA`);
  return data.toString('utf8');
}

/** torch-2.14.1-cp311-... -> torch-2.14.1+cu130-cp311-...; METADATA's Version likewise. */
export const relabelFilename = (filename, { version, label } = CUDA_TORCH) => filename.replace(`torch-${version}-`, `torch-${version}+${label}-`);
export const relabelMetadata = (text, { version, label } = CUDA_TORCH) => text.replace(`\nVersion: ${version}\n`, `\nVersion: ${version}+${label}\n`);

/**
 * The recorder behind the index's `upstream` option: fills `recording` with what is
 * asked for. Returns { files(route, project), metadata(route, filename) }.
 */
export function recordingUpstream(recording, base = PYPI_SIMPLE) {
  const urls = new Map(); // served filename -> [upstream url, size, relabelled?]
  return {
    async files(route, project) {
      const have = recording.projects[route]?.[project];
      if (have) return have;
      let files;
      if (route === 'whl/cu130') {
        if (project !== 'torch') return null;
        // download.pytorch.org/whl/cu130 has Linux and Windows builds, no macOS.
        files = (await fetchProjectFiles('torch', base))
          .filter(([f]) => f.startsWith(`torch-${CUDA_TORCH.version}-`) && !f.includes('macosx'))
          .map(([f, ...rest]) => {
            urls.set(relabelFilename(f), [rest[4], rest[2], true]);
            return [relabelFilename(f), ...rest];
          });
      } else if (route === 'simple') {
        files = await fetchProjectFiles(project, base).catch(() => null);
        if (!files) return null;
        for (const f of files) urls.set(f[0], [f[5], f[3], false]);
      } else return null;
      recording.projects[route][project] = files.map((f) => f.slice(0, 5));
      return recording.projects[route][project];
    },
    async metadata(route, filename) {
      if (recording.metadata[filename]) return recording.metadata[filename];
      const [url, size, relabelled] = urls.get(filename) ?? [];
      if (!url || !filename.endsWith('.whl')) return null;
      const text = await fetchRemoteWheelMetadata(url, size);
      recording.metadata[filename] = relabelled ? relabelMetadata(text) : text;
      return recording.metadata[filename];
    },
  };
}

/** Replays a recording: the same interface, no network. */
export function replayUpstream(recording) {
  return {
    async files(route, project) {
      return recording.projects[route]?.[project] ?? null;
    },
    async metadata(route, filename) {
      return recording.metadata[filename] ?? null;
    },
  };
}
