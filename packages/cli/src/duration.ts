import { usageError } from './errors.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** `90s`, `15m`, `1h`, `7d`, `2w`, or a plain number of seconds, as whole seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d{1,9})([smhdw]?)$/.exec(text.trim());
  if (m === null) throw usageError(`--${flag} takes a duration such as 90s, 15m, 1h, 7d or 2w`);
  return Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['w', 604800],
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
