// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const { writeSync } = process.getBuiltinModule('node:fs');

/*
 * stdout is for data (and the child's output); everything else goes to stderr.
 *
 * Messages use writeSync on fd 2 rather than process.stderr: creating Node's stdio streams switches a pipe to
 * O_NONBLOCK, and `keybox run` then execs the child onto the same file descriptions, where a program that does
 * not expect EAGAIN would fail writing its own output.
 */

export function writeStderr(text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let offset = 0;
  for (let attempts = 0; offset < buf.length && attempts < 1000; attempts++) {
    try {
      offset += writeSync(2, buf, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

export function note(line: string): void {
  writeStderr(`keybox: ${line}\n`);
}

export function warn(line: string): void {
  writeStderr(`keybox: warning: ${line}\n`);
}

export function printJson(data: unknown): void {
  process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
}

export function printLine(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** A plain aligned table; cells are sanitised so a name cannot inject terminal escapes. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => sanitize(String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  printLine(line(headers));
  for (const r of cells) printLine(line(r));
}

function sanitize(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => (ch === '\n' ? '\\n' : '?'));
}

export function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
