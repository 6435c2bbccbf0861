/** Version order shared by the Poetry, driver and CUDA checks. */
import { compare as comparePep440, valid } from '@renovatebot/pep440';

/** Leading dotted numbers of a version ('2.8.0+cu128' -> [2, 8, 0]); undefined when there are none. */
export function parseVersion(text: string): number[] | undefined {
  const match = /^\s*v?(\d+(?:\.\d+)*)/.exec(text);
  return match ? match[1].split('.').map(Number) : undefined;
}

/**
 * PEP 440 order (pre-releases first: '2.8.0rc1' < '2.8.0'; a local label sorts after its
 * release). Driver versions are not PEP 440-canonical ('580.05.01') but parse as plain
 * release numbers, so '570.133.20' > '570.26'. Text PEP 440 rejects ('570.86.10-ubuntu') is
 * compared by its leading numbers.
 */
export function compareVersions(a: string, b: string): number {
  return Math.sign(comparePep440(pep440(a), pep440(b)));
}

function pep440(text: string): string {
  if (valid(text.trim())) return text.trim();
  const numbers = parseVersion(text);
  if (!numbers) throw new RangeError(`not a version: '${text}'`);
  return numbers.join('.');
}

export function compareParts(left: number[], right: number[]): number {
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
