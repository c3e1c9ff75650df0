import { round } from './stats.js';

export function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A target check: `{ figure, value, target, met, detail }`, where `target` reads like `<= 1.25`. */
export function check(figure, value, op, limit, detail = '') {
  const met = op === '<=' ? value <= limit : value >= limit;
  return { figure, value: round(value), target: `${op === '<=' ? '≤' : '≥'} ${limit}`, met, detail };
}

/** A figure reported next to the checks, with no target of its own (`met` is null). */
export function info(figure, value, detail = '') {
  return { figure, value: round(value), target: '(information)', met: null, detail };
}

export function checksTable(checks) {
  return table(
    ['figure', 'measured', 'target', 'met', 'from'],
    checks.map((c) => [c.figure, fmt(c.value), c.target, c.met === null ? '' : c.met ? 'yes' : '**no**', c.detail]),
  );
}

export function fmt(value, unit = '') {
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  return `${round(value)}${unit}`;
}
