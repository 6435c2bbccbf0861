/** Small readers and formatters every detection source shares. */
import { readFile } from 'node:fs/promises';

/** A file's text, or undefined when it cannot be read: a missing source is an answer, not an error. */
export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException)?.code ?? String(error);
}

/**
 * 'a, 2 x b' for ['a', 'b', 'b'], in first-seen order; `countSingles` writes '1 x a' too
 * (hardware lists read better that way, PCI leftovers shorter without).
 */
export function countBy(items: string[], countSingles = false): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return [...counts].map(([item, count]) => (count > 1 || countSingles ? `${count} x ${item}` : item)).join(', ');
}

export function abbreviate(items: string[], keep: number): string {
  return items.length <= keep ? items.join(', ') : `${items.slice(0, keep).join(', ')}, ... (${items.length - keep} more)`;
}

export function firstMeaningfulLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .find(Boolean) ?? ''
  );
}
