import { abbreviate, countBy, firstMeaningfulLine } from '../../src/detect/text.js';

describe('countBy', () => {
  it('counts repeats once, in first-seen order', () => {
    expect(countBy(['b', 'a', 'b'])).toBe('2 x b, a');
    expect(countBy(['b', 'a', 'b'], true)).toBe('2 x b, 1 x a');
    expect(countBy([])).toBe('');
  });
});

describe('abbreviate', () => {
  it('keeps the first items and counts the rest', () => {
    expect(abbreviate(['a', 'b', 'c'], 3)).toBe('a, b, c');
    expect(abbreviate(['a', 'b', 'c', 'd', 'e'], 2)).toBe('a, b, ... (3 more)');
  });
});

describe('firstMeaningfulLine', () => {
  it('skips blank lines and trims', () => {
    expect(firstMeaningfulLine('\n\r\n  No devices were found  \nmore')).toBe('No devices were found');
    expect(firstMeaningfulLine('  \n')).toBe('');
  });
});
