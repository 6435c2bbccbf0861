// A local stand-in for download.pytorch.org and PyPI: a PEP 503 "simple" index
// over directories of wheels, with fault injection, so Poetry can lock and sync
// the seed project with no outside network.
//
//   /whl/cpu/    torch (+cpu) and its dependencies, like download.pytorch.org/whl/cpu
//   /whl/cu130/  the CUDA torch (test double) and the same dependencies
//   /simple/     every non-torch wheel: the PyPI stand-in. It has no torch on
//                purpose, so a torch lookup that escapes the explicit sources
//                fails loudly instead of quietly picking something.
//
// Pages are HTML (what download.pytorch.org serves; Poetry asks for PEP 691 JSON
// first but accepts HTML). Each file link carries #sha256 (Poetry writes it into
// the lock), data-requires-python, and PEP 658 data-core-metadata, so locking
// reads a few KB of METADATA instead of downloading the 190 MB torch wheel.
// Files are at /<route>/<filename>, as on download.pytorch.org; <filename>.metadata
// is the PEP 658 metadata. HEAD and single byte ranges work (Poetry's lazy-wheel).
//
// `upstream` (pypi-record.mjs) adds projects known only by their page and metadata:
// a recorded slice of PyPI, e.g. the real nvidia-* wheels torch 2.14.1 needs. Such a
// file has no body here: a request for it is answered 404 and logged as kind 'wheel',
// so a test can assert that a step read metadata only.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { readWheelMetadata } from './wheels.mjs';

/** PEP 503 name normalisation. */
export const normalizeName = (name) => name.replace(/[-_.]+/g, '-').toLowerCase();

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// Hashing torch's wheel takes ~0.5 s; remember it per file version for the process.
const hashMemo = new Map();
async function fileSha256(file, st) {
  const key = `${file}:${st.size}:${st.mtimeMs}`;
  if (!hashMemo.has(key)) {
    hashMemo.set(
      key,
      new Promise((resolve, reject) => {
        const h = createHash('sha256');
        createReadStream(file)
          .on('data', (d) => h.update(d))
          .on('end', () => resolve(h.digest('hex')))
          .on('error', reject);
      }),
    );
  }
  return hashMemo.get(key);
}

async function scanWheels(dir) {
  if (!dir) return [];
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.whl'));
  return Promise.all(
    names.map(async (filename) => {
      const file = path.join(dir, filename);
      const st = await fs.stat(file);
      const metadata = await readWheelMetadata(file);
      const text = metadata.toString('utf8');
      const requiresPython = /^Requires-Python:\s*(.+)$/m.exec(text)?.[1].trim() ?? null;
      return {
        filename,
        file,
        size: st.size,
        project: normalizeName(filename.split('-')[0]),
        sha256: await fileSha256(file, st),
        metadata,
        metadataSha256: sha256(metadata),
        requiresPython,
      };
    }),
  );
}

/**
 * Start the index. wheelsDir: CPU torch + everything else (ensureWheels()).
 * cudaWheelsDir: the CUDA torch wheel(s) (buildFakeCudaTorchWheel()).
 * Returns { url, cpuUrl, cudaUrl, pypiUrl, port, faults, requests, routes, fingerprint, close() }.
 *
 * faults (mutable, read per request):
 *   status:  { code: 503, count: 2, retryAfter?: seconds } the next `count`
 *            matching requests get `code`, then it clears itself.
 *   down:    true: every new connection (and any request on a kept-alive one)
 *            is destroyed at once, like a dead host behind a proxy.
 *   delayMs: wait this long before answering each matching request.
 *   match:   optional RegExp or path prefix limiting status/delayMs to some paths.
 * upstream: { files(route, project), metadata(route, filename), fingerprint } (pypi-record.mjs):
 *   pages for projects the local wheel directories lack (the CPU set's projects stay
 *   local), merged with local files of the same name (a local body wins).
 * requests: [{ method, path, status, bytes, accept, kind, fault? }] in arrival order; kind
 *   is 'page', 'metadata' or 'wheel' (a wheel body or a range of one); a
 *   connection killed by `down` logs { method: null, path: null, status: 'down' }.
 */
export async function startPackageIndex({ wheelsDir, cudaWheelsDir, upstream, port = 0, host = '127.0.0.1' } = {}) {
  const [base, cuda] = await Promise.all([scanWheels(wheelsDir), scanWheels(cudaWheelsDir)]);
  const notTorch = (w) => w.project !== 'torch';
  const routes = {
    'whl/cpu': base,
    'whl/cu130': [...cuda, ...base.filter(notTorch), ...cuda.filter(notTorch)],
    simple: [...base.filter(notTorch), ...cuda.filter(notTorch)],
  };

  // Changes whenever any served file does: part of project.mjs's lock-cache key.
  const fingerprint = sha256(
    Object.entries(routes)
      .map(
        ([r, ws]) =>
          `${r}:${ws
            .map((w) => `${w.filename}=${w.sha256}`)
            .sort()
            .join(',')}`,
      )
      .join('\n') + (upstream?.fingerprint ?? ''),
  );

  const faults = { status: null, down: false, delayMs: 0, match: null };
  const requests = [];

  const matches = (p) => {
    const m = faults.match;
    if (!m) return true;
    return m instanceof RegExp ? m.test(p) : p.startsWith(m);
  };

  const server = http.createServer(async (req, res) => {
    if (faults.down) {
      requests.push({ method: req.method, path: req.url, status: 'down' });
      req.socket.destroy();
      return;
    }
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/{2,}/g, '/');
    const entry = { method: req.method, path: urlPath, status: 0, bytes: 0, accept: req.headers.accept ?? null };
    requests.push(entry);
    const send = (status, body = '', headers = {}) => {
      entry.status = status;
      const buf = Buffer.from(body);
      entry.bytes = buf.length;
      res.writeHead(status, { 'content-length': buf.length, ...headers });
      res.end(req.method === 'HEAD' ? undefined : buf);
    };

    if (matches(urlPath)) {
      if (faults.delayMs) await new Promise((r) => setTimeout(r, faults.delayMs));
      const st = faults.status;
      if (st && st.count > 0) {
        st.count -= 1;
        if (st.count <= 0) faults.status = null;
        entry.fault = st.code;
        const h = st.retryAfter != null ? { 'retry-after': String(st.retryAfter) } : {};
        send(st.code, `injected fault: ${st.code}\n`, { 'content-type': 'text/plain', ...h });
        return;
      }
    }

    try {
      await serve(urlPath, req, res, entry, send);
    } catch (e) {
      send(500, String(e?.stack ?? e));
    }
  });

  // The route's files for one project: local ones, or the upstream page with local bodies swapped in.
  async function projectFiles(route, project) {
    const local = routes[route].filter((w) => w.project === project);
    // The CPU set's projects (filelock, sympy...) stay local on every route.
    if (!upstream || local.some((w) => base.includes(w))) return local;
    const remote = await upstream.files(route, project);
    if (!remote) return local;
    const byName = new Map(local.map((w) => [w.filename, w]));
    const merged = remote.map(
      ([filename, sha, requiresPython, size, yanked]) => byName.get(filename) ?? { filename, project, sha256: sha, requiresPython, size, yanked, remote: true },
    );
    const names = new Set(merged.map((w) => w.filename));
    return [...merged, ...local.filter((w) => !names.has(w.filename))];
  }

  async function serve(urlPath, req, res, entry, send) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (urlPath === '/') {
      const links = Object.keys(routes)
        .map((r) => `<a href="/${r}/">${r}</a><br/>`)
        .join('\n');
      return send(200, page('local package index', links), { 'content-type': 'text/html' });
    }
    const route = Object.keys(routes).find((r) => urlPath === `/${r}` || urlPath.startsWith(`/${r}/`));
    if (!route) return send(404, 'not found\n');
    const wheels = routes[route];
    const rest = urlPath.slice(route.length + 2); // after "/<route>/"
    const html = { 'content-type': 'text/html; charset=utf-8' };

    entry.kind = rest.endsWith('.metadata') ? 'metadata' : rest === '' || rest.endsWith('/') ? 'page' : 'wheel';
    if (rest === '') {
      const projects = [...new Set(wheels.map((w) => w.project))].sort();
      return send(200, page('Simple index', projects.map((p) => `<a href="/${route}/${p}/">${p}</a><br/>`).join('\n')), html);
    }
    if (rest.endsWith('/')) {
      const project = normalizeName(rest.slice(0, -1));
      const files = await projectFiles(route, project);
      if (files.length === 0) return send(404, `no project ${project}\n`);
      const links = files
        .map((w) => {
          const href = `/${route}/${encodeURIComponent(w.filename)}#sha256=${w.sha256}`;
          const rp = w.requiresPython ? ` data-requires-python="${esc(w.requiresPython)}"` : '';
          // A remote file's metadata may not be recorded yet: PEP 714 allows "true" (no hash).
          const mdValue = w.remote ? 'true' : `sha256=${w.metadataSha256}`;
          const md = w.filename.endsWith('.whl') ? ` data-core-metadata="${mdValue}" data-dist-info-metadata="${mdValue}"` : '';
          const yanked = w.yanked ? ' data-yanked=""' : '';
          return `<a href="${esc(href)}"${rp}${md}${yanked}>${esc(w.filename)}</a><br/>`;
        })
        .join('\n');
      return send(200, page(`Links for ${project}`, links), html);
    }
    const isMeta = rest.endsWith('.metadata');
    const filename = isMeta ? rest.slice(0, -'.metadata'.length) : rest;
    const w = wheels.find((x) => x.filename === filename);
    if (!w) {
      const text = isMeta && upstream ? await upstream.metadata(route, filename) : null;
      if (text != null) return send(200, text, { 'content-type': 'text/plain' });
      return send(404, upstream ? `no file ${filename} (metadata only here)\n` : `no file ${filename}\n`);
    }
    if (isMeta) return send(200, w.metadata, { 'content-type': 'text/plain' });

    // The wheel itself; one "bytes=a-b" / "bytes=a-" / "bytes=-n" range is enough for lazy-wheel.
    let start = 0;
    let end = w.size - 1;
    let status = 200;
    const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const m = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && (m[1] || m[2])) {
      if (m[1]) {
        start = Number(m[1]);
        if (m[2]) end = Math.min(Number(m[2]), end);
      } else start = Math.max(0, w.size - Number(m[2]));
      if (start > end) return send(416, '', { 'content-range': `bytes */${w.size}` });
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${w.size}`;
    }
    entry.status = status;
    entry.bytes = end - start + 1;
    res.writeHead(status, { ...headers, 'content-length': end - start + 1 });
    if (req.method === 'HEAD') return res.end();
    createReadStream(w.file, { start, end })
      .on('error', () => res.destroy())
      .pipe(res);
  }

  server.on('connection', (socket) => {
    if (faults.down) {
      requests.push({ method: null, path: null, status: 'down' });
      socket.destroy();
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const url = `http://${host}:${server.address().port}/`;
  return {
    url,
    cpuUrl: `${url}whl/cpu/`,
    cudaUrl: `${url}whl/cu130/`,
    pypiUrl: `${url}simple/`,
    port: server.address().port,
    faults,
    requests,
    routes,
    fingerprint,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

function page(title, body) {
  return `<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0"><title>${esc(title)}</title></head>\n<body><h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}
