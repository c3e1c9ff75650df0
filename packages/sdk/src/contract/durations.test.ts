import { describe, expect, it } from 'vitest';
import { durationSeconds, formatDuration } from './durations.js';

describe('durations', () => {
  it('reads 90s, 15m, 1h, 7d, 2w and plain seconds as whole seconds', () => {
    expect(['90s', '15m', '1h', '7d', '2w', '45', ' 1h '].map(durationSeconds)).toEqual([
      90, 900, 3600, 604800, 1209600, 45, 3600,
    ]);
  });

  it('refuses anything else', () => {
    for (const text of ['', '1x', '1.5h', '-1', 'h', '1 h', '1H', '1234567890']) {
      expect(durationSeconds(text), text).toBeUndefined();
    }
  });

  it('writes seconds in the largest unit that divides them, and reads them back', () => {
    expect([90, 900, 3600, 7200, 86400, 604800, 61].map(formatDuration)).toEqual([
      '90s',
      '15m',
      '1h',
      '2h',
      '1d',
      '1w',
      '61s',
    ]);
    for (const seconds of [1, 59, 60, 3599, 3600, 90000, 604800]) {
      expect(durationSeconds(formatDuration(seconds))).toBe(seconds);
    }
  });
});
