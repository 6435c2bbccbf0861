/** Version arithmetic shared by the Poetry, driver and CUDA checks. */

/** Leading dotted numbers of a version ('2.8.0+cu128' -> [2, 8, 0]); undefined when there are none. */
export function parseVersion(text: string): number[] | undefined {
  const match = /^\s*v?(\d+(?:\.\d+)*)/.exec(text);
  return match ? match[1].split('.').map(Number) : undefined;
}

/** Numeric per component, missing components count as 0: '570.133.20' > '570.26'. */
export function compareVersions(a: string, b: string): number {
  const left = parseVersion(a);
  const right = parseVersion(b);
  if (!left || !right) throw new RangeError(`not a version: '${left ? b : a}'`);
  return compareParts(left, right);
}

export function compareParts(left: number[], right: number[]): number {
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}
