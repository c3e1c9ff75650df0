export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds for display and for the JSON file: 3 significant digits, at most 3 decimals. */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  if (value === 0) return 0;
  const decimals = Math.min(3, Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(value)))));
  return Number(value.toFixed(decimals));
}

export function summary(times) {
  return {
    medianMs: round(median(times)),
    minMs: round(Math.min(...times)),
    maxMs: round(Math.max(...times)),
    runs: times.length,
  };
}
