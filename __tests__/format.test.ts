import { seconds } from '../src/format.js';

describe('seconds', () => {
  it.each([
    [300, '0.3 s'],
    [10_000, '10 s'],
    [12_449, '12.4 s'],
    [12_450, '12.5 s'],
    [0, '0 s'],
    [undefined, ''],
  ])('%s ms reads %j', (ms, text) => {
    expect(seconds(ms)).toBe(text);
  });
});
