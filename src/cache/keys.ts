import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CACHE_PREFIX } from '../constants.js';
import type { Interpreter } from '../python.js';
import type { Selection } from '../project.js';

export interface RunnerFingerprint {
  os: string;
  distro: string;
  arch: string;
}

export interface CacheKeys {
  primary: string;
  /** Same runner, interpreter and mode: a venv that a sync can bring up to date cheaply. */
  restorePrefix: string;
}

export function shortHash(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** Key segments are ours or hashed; a user's suffix keeps only characters that are safe in a key. */
export function keySegment(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9._-]+/g, '_');
  return safe === text ? safe : `${safe}_${shortHash(text, 6)}`;
}

/** The distro decides which system libraries a venv's compiled wheels were linked against. */
export function runnerFingerprint(platform: NodeJS.Platform, arch: string, root = '/', release = ''): RunnerFingerprint {
  let distro = platform === 'darwin' ? `macos${release.split('.')[0]}` : platform;
  if (platform === 'linux') {
    try {
      const text = fs.readFileSync(path.join(root, 'etc', 'os-release'), 'utf8');
      const field = (name: string): string => new RegExp(`^${name}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
      distro = `${field('ID') || 'linux'}${field('VERSION_ID')}`;
    } catch {
      distro = 'linux';
    }
  }
  return { os: platform, distro: keySegment(distro), arch };
}

export function cacheKeys(parts: {
  fingerprint: RunnerFingerprint;
  interpreter: Interpreter;
  mode: 'cpu' | 'cuda';
  selection: Selection;
  syncArgs: string[];
  lockText: string;
  suffix: string;
  /** Venvs are not relocatable: one made at another path (another runner's work folder) must not match. */
  venv: string;
}): CacheKeys {
  const { fingerprint, interpreter } = parts;
  const restorePrefix = [
    CACHE_PREFIX,
    fingerprint.os,
    fingerprint.distro,
    fingerprint.arch,
    `py${interpreter.version}`,
    shortHash(interpreter.realpath, 8),
    `at${shortHash(path.resolve(parts.venv), 8)}`,
    parts.mode,
  ].join('-');
  const selection = shortHash(JSON.stringify([parts.selection.extras, parts.selection.groups, parts.syncArgs]), 8);
  const lock = shortHash(parts.lockText.replace(/\r\n/g, '\n'), 16);
  const suffix = parts.suffix ? `-${keySegment(parts.suffix)}` : '';
  return { primary: `${restorePrefix}-${selection}-${lock}${suffix}`, restorePrefix: `${restorePrefix}-` };
}
