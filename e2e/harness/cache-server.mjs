// Local stand-in for GitHub's cache service v2 (twirp JSON API + the blob
// storage the signed URLs point at), close enough that an unmodified
// @actions/cache 6.x talks to it. Plain ESM so it runs on Node 20 and 24.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, unlink, copyFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const TWIRP_PREFIX = '/twirp/github.actions.results.api.v1.CacheService/';
const TWIRP_METHODS = new Set(['CreateCacheEntry', 'FinalizeCacheEntryUpload', 'GetCacheEntryDownloadURL']);
// For an IP host the Azure SDK reads the path as /<account>/<container>/<blob>.
const ACCOUNT = 'devcache';
const CONTAINER = 'actions-cache';
const AZURE_VERSION = '2025-11-05';

// Twirp's status <-> error-code table, so injected statuses carry a plausible code.
const TWIRP_CODES = {
  400: 'invalid_argument',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  408: 'canceled',
  409: 'already_exists',
  412: 'failed_precondition',
  429: 'resource_exhausted',
  500: 'internal',
  501: 'unimplemented',
  503: 'unavailable',
  504: 'deadline_exceeded',
};

/**
 * The `version` @actions/cache computes for a set of paths (cacheUtils.getCacheVersion),
 * needed to inject entries the library will match.
 */
export function cacheVersion(paths, { compressionMethod = 'zstd-without-long', enableCrossOsArchive = false } = {}) {
  const parts = [...paths];
  if (compressionMethod) parts.push(compressionMethod);
  if (process.platform === 'win32' && !enableCrossOsArchive) parts.push('windows-only');
  parts.push('1.0');
  return createHash('sha256').update(parts.join('|')).digest('hex');
}

export async function startCacheServer(options = {}) {
  const ownsStorage = !options.storageDir;
  const storageDir = options.storageDir ?? (await mkdtemp(join(tmpdir(), 'cache-server-')));
  const blobDir = join(storageDir, 'blobs');
  const stagingDir = join(storageDir, 'staging');
  await mkdir(blobDir, { recursive: true });
  await mkdir(stagingDir, { recursive: true });

  const token = randomBytes(24).toString('hex');
  const requests = [];
  const faults = {};
  // key\0version -> record; a record is 'reserved' until finalized, then 'committed'.
  const records = new Map();
  const byBlob = new Map();
  let idSeq = 0;
  let orderSeq = 0;
  let url = '';
  const closing = new AbortController();

  const recordKey = (key, version) => `${key}\u0000${version}`;

  function newRecord(key, version) {
    const id = ++idSeq;
    const blobName = `entry-${id}-${randomBytes(4).toString('hex')}`;
    const rec = {
      id,
      key,
      version,
      blobName,
      sig: randomBytes(16).toString('base64url'),
      file: join(blobDir, blobName),
      state: 'reserved',
      sizeBytes: 0,
      createdAt: null,
      order: 0,
    };
    records.set(recordKey(key, version), rec);
    byBlob.set(blobName, rec);
    return rec;
  }

  function commit(rec, sizeBytes, createdAt = new Date()) {
    rec.state = 'committed';
    rec.sizeBytes = sizeBytes;
    rec.createdAt = createdAt;
    rec.order = ++orderSeq; // newest-first tie-break independent of clock resolution
  }

  const blobUrl = (rec) => `${url}${ACCOUNT}/${CONTAINER}/${rec.blobName}?sv=${AZURE_VERSION}&sp=rw&sig=${encodeURIComponent(rec.sig)}`;

  // A fault flag may be `true` (always) or a count of how many more times to fire.
  function take(name) {
    const v = faults[name];
    if (!v) return false;
    if (typeof v === 'number') faults[name] = v - 1;
    return true;
  }

  function takeStatus(spec, match) {
    if (!spec || !match(spec)) return null;
    const count = spec.count ?? Infinity;
    if (count <= 0) return null;
    spec.count = count - 1;
    return spec;
  }

  function sendJson(res, status, body, extraHeaders = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...extraHeaders,
    });
    res.end(text);
  }

  function twirpError(res, status, msg, code = TWIRP_CODES[status] ?? 'unknown', extraHeaders) {
    sendJson(res, status, { code, msg }, extraHeaders);
  }

  /** What the blob service answers when a blob (single PUT or committed block list) is created. */
  function createdHeaders(rec) {
    return azureHeaders({
      'Content-Length': 0,
      ETag: `"0x${rec.id.toString(16)}${Date.now().toString(16)}"`,
      'Last-Modified': new Date().toUTCString(),
      'x-ms-request-server-encrypted': 'true',
    });
  }

  function azureHeaders(extra = {}) {
    return {
      'x-ms-request-id': randomBytes(16).toString('hex'),
      'x-ms-version': AZURE_VERSION,
      Date: new Date().toUTCString(),
      ...extra,
    };
  }

  function azureError(res, status, code, message) {
    const xml = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    res.writeHead(
      status,
      azureHeaders({
        'Content-Type': 'application/xml',
        'Content-Length': Buffer.byteLength(xml),
        'x-ms-error-code': code,
      }),
    );
    res.end(xml);
  }

  async function readBody(req, limit) {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  // Streams a request body to `dest` via a temp file so a broken upload never leaves a partial blob.
  async function receiveTo(req, dest) {
    const tmp = `${dest}.part-${randomBytes(4).toString('hex')}`;
    try {
      await pipeline(req, createWriteStream(tmp));
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return (await stat(dest)).size;
  }

  async function handleTwirp(req, res, log, method) {
    log.twirpMethod = method;
    if (req.method !== 'POST' || !TWIRP_METHODS.has(method)) {
      await readBody(req, 1 << 20).catch(() => {});
      return twirpError(res, 404, `no handler for ${req.method} ${method}`, 'bad_route');
    }
    if (take('closeSocket')) {
      req.socket.destroy();
      return;
    }
    if (faults.delayMs) await sleep(faults.delayMs, undefined, { signal: closing.signal });
    const raw = await readBody(req, 1 << 20);
    const injected = takeStatus(faults.status, (s) => !s.methods || s.methods.includes(method));
    if (injected) {
      if (injected.body !== undefined) {
        // Raw body lets a test send non-JSON (the client retries on SyntaxError).
        res.writeHead(injected.code, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(injected.body) });
        return res.end(injected.body);
      }
      return twirpError(res, injected.code, injected.msg ?? `injected fault ${injected.code}`, undefined, injected.headers);
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      return twirpError(res, 401, 'invalid or missing bearer token');
    }
    let body;
    try {
      body = JSON.parse(raw || '{}');
    } catch {
      return twirpError(res, 400, 'request body is not JSON', 'malformed');
    }
    // The library sends snake_case (protobuf field names); int64 arrives as a string.
    const { key, version } = body;
    if (typeof key !== 'string' || !key || typeof version !== 'string' || !version) {
      return twirpError(res, 400, 'key and version are required');
    }
    log.key = key;

    if (method === 'CreateCacheEntry') {
      if (take('quotaExceeded')) {
        // @actions/cache turns any error whose msg contains 'insufficient usage' into UsageError.
        return twirpError(res, 429, 'insufficient usage to create cache entry: storage quota exceeded');
      }
      const existing = records.get(recordKey(key, version));
      if (existing) {
        return twirpError(
          res,
          409,
          existing.state === 'committed'
            ? 'cache entry with the same key, version, and scope already exists'
            : 'cache entry with the same key, version, and scope is being created by another upload',
        );
      }
      const rec = newRecord(key, version);
      return sendJson(res, 200, { ok: true, signed_upload_url: blobUrl(rec) });
    }

    if (method === 'FinalizeCacheEntryUpload') {
      const rec = records.get(recordKey(key, version));
      if (!rec || rec.state !== 'reserved') {
        return twirpError(res, 404, 'no cache entry reservation for this key and version');
      }
      let size;
      try {
        size = (await stat(rec.file)).size;
      } catch {
        return twirpError(res, 412, 'cache entry has no uploaded blob');
      }
      if (body.size_bytes !== undefined && Number(body.size_bytes) !== size) {
        return twirpError(res, 400, `size_bytes ${body.size_bytes} does not match uploaded size ${size}`);
      }
      commit(rec, size);
      return sendJson(res, 200, { ok: true, entry_id: String(rec.id) });
    }

    // GetCacheEntryDownloadURL: exact key, then the key as a prefix, then each
    // restore key as a prefix; newest first; the version must always match.
    const committed = [...records.values()].filter((r) => r.state === 'committed' && r.version === version).sort((a, b) => b.order - a.order);
    const restoreKeys = Array.isArray(body.restore_keys) ? body.restore_keys : [];
    const hit =
      committed.find((r) => r.key === key) ??
      [key, ...restoreKeys].reduce((found, prefix) => found ?? committed.find((r) => r.key.startsWith(prefix)), undefined);
    if (!hit) return sendJson(res, 200, { ok: false, signed_download_url: '', matched_key: '' });
    log.matchedKey = hit.key;
    return sendJson(res, 200, { ok: true, signed_download_url: blobUrl(hit), matched_key: hit.key });
  }

  async function handleBlob(req, res, log, parsed, blobName) {
    const rec = byBlob.get(blobName);
    const comp = parsed.searchParams.get('comp');
    log.blobOp = req.method === 'PUT' ? (comp ?? 'put') : req.method.toLowerCase();
    const injected = takeStatus(faults.blobStatus, (s) => !s.methods || s.methods.includes(req.method));
    if (injected) {
      req.resume();
      return azureError(res, injected.code, 'InjectedFault', `injected fault ${injected.code}`);
    }
    if (!rec) {
      req.resume();
      return azureError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
    }
    if (parsed.searchParams.get('sig') !== rec.sig) {
      req.resume();
      return azureError(res, 403, 'AuthenticationFailed', 'Signature did not match.');
    }

    if (req.method === 'PUT') {
      if (rec.state !== 'reserved') {
        req.resume();
        return azureError(res, 403, 'AuthorizationPermissionMismatch', 'The entry is already committed.');
      }
      const staging = join(stagingDir, rec.blobName);
      if (comp === 'block') {
        const blockId = parsed.searchParams.get('blockid');
        if (!blockId) {
          req.resume();
          return azureError(res, 400, 'InvalidQueryParameterValue', 'blockid is required');
        }
        await mkdir(staging, { recursive: true });
        await receiveTo(req, join(staging, Buffer.from(blockId).toString('hex')));
        res.writeHead(201, azureHeaders({ 'Content-Length': 0, 'x-ms-request-server-encrypted': 'true' }));
        return res.end();
      }
      if (comp === 'blocklist') {
        const xml = await readBody(req, 8 << 20);
        const ids = [...xml.matchAll(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g)].map((m) => m[2].trim());
        const parts = ids.map((id) => join(staging, Buffer.from(id).toString('hex')));
        for (const p of parts) {
          try {
            await stat(p);
          } catch {
            return azureError(res, 400, 'InvalidBlockList', 'The specified block list is invalid.');
          }
        }
        // Concatenate in the listed order, streaming: blocks are 64 MiB each.
        const tmp = `${rec.file}.part`;
        // One appending stream per block: reusing one stream across pipelines piles up listeners.
        await writeFile(tmp, '');
        for (const p of parts) await pipeline(createReadStream(p), createWriteStream(tmp, { flags: 'a' }));
        await rename(tmp, rec.file);
        await rm(staging, { recursive: true, force: true });
        log.blocks = ids.length;
        res.writeHead(201, createdHeaders(rec));
        return res.end();
      }
      if (comp) {
        req.resume();
        return azureError(res, 400, 'UnsupportedQueryParameter', `comp=${comp} is not supported`);
      }
      if (req.headers['x-ms-blob-type'] !== 'BlockBlob') {
        req.resume();
        return azureError(res, 400, 'MissingRequiredHeader', 'x-ms-blob-type: BlockBlob is required');
      }
      await receiveTo(req, rec.file);
      res.writeHead(201, createdHeaders(rec));
      return res.end();
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      req.resume();
      return azureError(res, 405, 'UnsupportedHttpVerb', `${req.method} is not supported`);
    }
    req.resume();
    let size;
    try {
      size = (await stat(rec.file)).size;
    } catch {
      return azureError(res, 404, 'BlobNotFound', 'The specified blob does not exist.');
    }
    let start = 0;
    let end = size - 1;
    let status = 200;
    const headers = {
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'x-ms-blob-type': 'BlockBlob',
      'Last-Modified': (rec.createdAt ?? new Date()).toUTCString(),
      ETag: `"0x${rec.id.toString(16)}"`,
    };
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? req.headers['x-ms-range'] ?? '');
    if (range && (range[1] || range[2])) {
      if (range[1]) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      } else {
        start = Math.max(0, size - Number(range[2]));
      }
      if (start >= size || start > end) {
        res.writeHead(416, azureHeaders({ 'Content-Range': `bytes */${size}`, 'Content-Length': 0 }));
        return res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const length = end - start + 1;
    res.writeHead(status, azureHeaders({ ...headers, 'Content-Length': length }));
    if (req.method === 'HEAD') return res.end();
    if (faults.downloadDelayMs) {
      // Headers first, then silence: the library arms its 5 s socket timeout only once headers arrive.
      res.flushHeaders();
      await sleep(faults.downloadDelayMs, undefined, { signal: closing.signal });
    }
    if (take('corruptDownload')) {
      let left = length;
      while (left > 0) {
        const n = Math.min(left, 1 << 20);
        if (!res.write(randomBytes(n))) await new Promise((r) => res.once('drain', r));
        left -= n;
      }
      return res.end();
    }
    if (take('truncateDownload')) {
      // Full Content-Length promised, half delivered, then the connection drops.
      const half = Math.floor(length / 2);
      if (half > 0) await pipeline(createReadStream(rec.file, { start, end: start + half - 1 }), res, { end: false });
      await new Promise((r) => res.write('', r));
      res.destroy();
      return;
    }
    if (length === 0) return res.end();
    await pipeline(createReadStream(rec.file, { start, end }), res);
  }

  const server = createServer((req, res) => {
    const parsed = new URL(req.url, 'http://127.0.0.1');
    const log = { method: req.method, path: parsed.pathname, status: 0 };
    requests.push(log);
    res.on('close', () => {
      log.status = res.headersSent ? res.statusCode : 0;
      if (!res.writableFinished) log.aborted = true;
    });
    const segments = parsed.pathname.split('/').filter(Boolean);
    const run = parsed.pathname.startsWith(TWIRP_PREFIX)
      ? handleTwirp(req, res, log, parsed.pathname.slice(TWIRP_PREFIX.length))
      : segments.length === 3 && segments[0] === ACCOUNT && segments[1] === CONTAINER
        ? handleBlob(req, res, log, parsed, segments[2])
        : (req.resume(), Promise.resolve(twirpError(res, 404, `unknown path ${parsed.pathname}`, 'bad_route')));
    run.catch((err) => {
      if (!res.headersSent && !res.destroyed) {
        if (err?.status === 413) return twirpError(res, 413, err.message, 'invalid_argument');
        return twirpError(res, 500, `cache-server: ${err?.message ?? err}`);
      }
      res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  url = `http://127.0.0.1:${server.address().port}/`;

  return {
    url,
    storageDir,
    env: { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: url, ACTIONS_RUNTIME_TOKEN: token },
    requests,
    faults,
    entries() {
      return [...records.values()]
        .filter((r) => r.state === 'committed')
        .sort((a, b) => a.order - b.order)
        .map((r) => ({ key: r.key, version: r.version, sizeBytes: r.sizeBytes, createdAt: r.createdAt.toISOString(), id: r.id, file: r.file }));
    },
    /** Commits a pre-built archive (file path or Buffer/string data) as if a job had saved it. */
    async addEntry({ key, version, file, data, createdAt }) {
      if (records.has(recordKey(key, version))) throw new Error(`entry ${key} (${version}) already exists`);
      const rec = newRecord(key, version);
      if (file) await copyFile(file, rec.file);
      else await writeFile(rec.file, data ?? '');
      commit(rec, (await stat(rec.file)).size, createdAt ? new Date(createdAt) : new Date());
      return { key, version, sizeBytes: rec.sizeBytes, createdAt: rec.createdAt.toISOString(), id: rec.id, file: rec.file };
    },
    /** Drops entries (all, or those matching a predicate on {key, version}) and reservations. */
    async deleteEntries(predicate = () => true) {
      for (const [k, rec] of records) {
        if (!predicate({ key: rec.key, version: rec.version, state: rec.state })) continue;
        records.delete(k);
        byBlob.delete(rec.blobName);
        await unlink(rec.file).catch(() => {});
      }
    },
    async close() {
      closing.abort();
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (ownsStorage) await rm(storageDir, { recursive: true, force: true });
    },
  };
}
