/*
 * The duration syntax Keybox takes wherever a person types one (the CLI's --ttl, --grace, --cache-max-age…; the web
 * UI's TTL fields): `90s`, `15m`, `1h`, `7d`, `2w`, or a plain number of seconds. One definition, so both read the
 * same. No imports: the web UI bundles it for the browser (`@keybox/sdk/durations`).
 */

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Whole seconds, or undefined if `text` is not a duration of that syntax. */
export function durationSeconds(text: string): number | undefined {
  const m = /^(\d{1,9})([smhdw]?)$/.exec(text.trim());
  return m === null ? undefined : Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
}

/** Seconds in the largest unit that divides them: 3600 → `1h`, 90 → `90s`. */
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
