import type { Transform } from 'node:stream';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
// (node:stream only when a masker is made: the CLI is one bundle.)
const loadStream = () => process.getBuiltinModule('node:stream');

/** What a masked value becomes. Fixed width, so the output does not reveal how long the value was. */
export const MASK = '*****';
const MASK_BYTES = Buffer.from(MASK);

/**
 * Values with fewer characters (Unicode code points) than this are not masked: a secret such as `1` or `dev` would
 * otherwise star out ordinary words, numbers and log levels all over the output.
 */
export const DEFAULT_MIN_LENGTH = 4;

export interface MaskOptions {
  /** Minimum length in characters (code points) of a value that is masked; default {@link DEFAULT_MIN_LENGTH}. */
  minLength?: number;
}

/** The values `--mask` will hide: distinct, non-empty, at least `minLength` characters. */
export function selectMaskable(values: readonly string[], options: MaskOptions = {}): string[] {
  const minLength = Math.max(1, options.minLength ?? DEFAULT_MIN_LENGTH);
  return [...new Set(values)].filter((v) => Array.from(v).length >= minLength);
}

/**
 * The streaming core of `--mask`, without streams: feed it chunks, write out what it returns.
 *
 * Every occurrence of a value (as UTF-8 bytes) is replaced by {@link MASK}; occurrences that overlap (one value
 * inside or across another) are merged into one mask, so no byte of any occurrence is ever emitted. Bytes are held
 * back only while they are a proper prefix of some value (at most the longest value's length − 1); everything else
 * is returned from the same `push()` that received it.
 */
export interface MaskCore {
  /** Bytes that are safe to write now. May share memory with `chunk`. */
  push(chunk: Uint8Array): Buffer;
  /** End of input: everything still held, masked as needed. */
  flush(): Buffer;
  /** How many input bytes are held back right now. */
  readonly held: number;
}

// Built automata by values array: stdout and stderr each need a masker, and with a few hundred long values one
// automaton is worth sharing (read-only once built; the scanning state lives in each core). The copy of the values
// guards against an array changed in between: a stale automaton would leave a new value unmasked.
const compiled = new WeakMap<readonly string[], { minLength: number; copy: string[]; automaton: Automaton }>();

function compile(values: readonly string[], options: MaskOptions): Automaton {
  const minLength = options.minLength ?? DEFAULT_MIN_LENGTH;
  const hit = compiled.get(values);
  if (hit?.minLength === minLength && hit.copy.length === values.length && hit.copy.every((v, i) => v === values[i])) {
    return hit.automaton;
  }
  const automaton = buildAutomaton(selectMaskable(values, { minLength }).map((v) => Buffer.from(v, 'utf8')));
  compiled.set(values, { minLength, copy: [...values], automaton });
  return automaton;
}

export function createMaskCore(values: readonly string[], options: MaskOptions = {}): MaskCore {
  const automaton = compile(values, options);
  const { hold, empty } = automaton;

  let state = 0;
  let pos = 0; // absolute offset of the next input byte
  let emitted = 0; // every input byte before this offset has been written out or is covered by a written mask
  let pending: Buffer[] = []; // the input bytes in [emitted, pos)
  // Merged occurrences still to be written or finished: sorted, disjoint, all ending after `emitted`. Only the first
  // can have had its mask written already (`announced`).
  const maskStart: number[] = [];
  const maskEnd: number[] = [];
  let announced = false;

  function take(to: number, emit: boolean, pieces: Buffer[]): void {
    while (emitted < to) {
      const seg = pending[0]!;
      const n = Math.min(seg.length, to - emitted);
      if (emit) pieces.push(n === seg.length ? seg : seg.subarray(0, n));
      if (n === seg.length) pending.shift();
      else pending[0] = seg.subarray(n);
      emitted += n;
    }
  }

  // No match can start before `safe` any more: every byte and every merged occurrence before it is final.
  function release(safe: number): Buffer {
    const pieces: Buffer[] = [];
    while (maskStart.length > 0 && maskStart[0]! <= safe) {
      take(maskStart[0]!, true, pieces);
      if (!announced) pieces.push(MASK_BYTES);
      announced = true;
      // A later occurrence starting before `end` would overlap and extend this one: keep it open until `safe` passes.
      if (maskEnd[0]! > safe) break;
      take(maskEnd[0]!, false, pieces);
      maskStart.shift();
      maskEnd.shift();
      announced = false;
    }
    take(safe, !(maskStart.length > 0 && announced), pieces);
    if (pieces.length === 1 && pieces[0] !== MASK_BYTES) return pieces[0]!;
    return Buffer.concat(pieces);
  }

  function push(chunk: Uint8Array): Buffer {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.length === 0) return Buffer.alloc(0);
    if (empty) return buf;
    pending.push(buf);
    const s = scan(automaton, state, buf, pos, (start, end) => {
      while (maskEnd.length > 0 && maskEnd[maskEnd.length - 1]! > start) {
        start = Math.min(start, maskStart.pop()!);
        maskEnd.pop();
      }
      maskStart.push(start);
      maskEnd.push(end);
    });
    state = s;
    pos += buf.length;
    const result = release(pos - hold[s]!);
    // Held bytes of this chunk (always the last segment) are copied: the caller may reuse its buffer.
    if (pos - emitted > 0 && pending.length > 0) pending[pending.length - 1] = Buffer.from(pending.at(-1)!);
    return result;
  }

  function flush(): Buffer {
    const result = release(pos);
    state = 0;
    pending = [];
    return result;
  }

  return {
    push,
    flush,
    get held() {
      return pos - emitted;
    },
  };
}

/**
 * `--mask`: a byte stream that replaces every secret value with {@link MASK}, value split across writes or not.
 * Values shorter than `minLength` characters (default 4) and empty values are left alone.
 *
 * @example
 * child.stdout.pipe(createMasker([...secrets.values()])).pipe(process.stdout);
 */
export function createMasker(values: readonly string[], options: MaskOptions = {}): Transform {
  const core = createMaskCore(values, options);
  return new (loadStream().Transform)({
    transform(chunk: Buffer, _encoding, callback) {
      const bytes = core.push(chunk);
      callback(null, bytes.length > 0 ? bytes : undefined);
    },
    flush(callback) {
      const bytes = core.flush();
      callback(null, bytes.length > 0 ? bytes : undefined);
    },
  });
}

type Automaton = ReturnType<typeof buildAutomaton>;

/** Runs the automaton over `buf` from `state`; reports each end of a match with the longest value ending there. */
function scan(
  automaton: Automaton,
  state: number,
  buf: Uint8Array,
  offset: number,
  onMatch: (start: number, end: number) => void,
): number {
  // Locals, not closure variables: this loop is the whole cost of --mask.
  const { label, child, rows, fail, out } = automaton;
  let s = state;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (s === 0) {
      // Most bytes of ordinary output: at the root, one lookup in its row.
      s = rows[b]!;
      if (s === 0) continue;
    } else {
      for (;;) {
        const k = child[s]!;
        const next = k > 0 ? (label[k] === b ? k : 0) : k < 0 ? rows[((-k - 1) << 8) | b]! : 0;
        if (next !== 0) {
          s = next;
          break;
        }
        s = fail[s]!;
        if (s === 0) {
          s = rows[b]!;
          break;
        }
      }
    }
    const length = out[s]!;
    if (length !== 0) onMatch(offset + i + 1 - length, offset + i + 1);
  }
  return s;
}

/**
 * Aho–Corasick over bytes. A full 256-wide transition table would take a gigabyte for a few hundred long values, so
 * the trie is sparse: a node with one child stores it directly (`child[n] > 0`, its byte in `label`), a node with
 * several points at a 256-entry row (`child[n] = -(row + 1)`); only branch points get rows, at most one per value.
 * About 17 bytes per byte of value.
 */
function buildAutomaton(patterns: readonly Buffer[]) {
  const capacity = patterns.reduce((sum, p) => sum + p.length, 1);
  const label = new Uint8Array(capacity);
  const child = new Int32Array(capacity);
  const fail = new Int32Array(capacity);
  // The longest value that ends at this node (its own string or a suffix of it): it covers every shorter one there.
  const out = new Int32Array(capacity);
  // The longest suffix of the node's string that is a proper prefix of some value: what must be held back.
  const hold = new Int32Array(capacity);
  let rows = new Int32Array(256 * 16);
  let rowCount = 1;
  child[0] = -1; // the root always has a row: most bytes are looked up there
  let nodes = 1;

  const goto = (n: number, b: number): number => {
    const k = child[n]!;
    return k > 0 ? (label[k] === b ? k : 0) : k < 0 ? rows[((-k - 1) << 8) | b]! : 0;
  };
  const newRow = (): number => {
    if ((rowCount + 1) * 256 > rows.length) {
      const grown = new Int32Array(rows.length * 2);
      grown.set(rows);
      rows = grown;
    }
    return rowCount++;
  };

  for (const pattern of patterns) {
    let n = 0;
    for (const b of pattern) {
      let c = goto(n, b);
      if (c === 0) {
        c = nodes++;
        label[c] = b;
        const k = child[n]!;
        if (k === 0) child[n] = c;
        else if (k > 0) {
          const row = newRow();
          rows[(row << 8) | label[k]!] = k;
          rows[(row << 8) | b] = c;
          child[n] = -(row + 1);
        } else rows[((-k - 1) << 8) | b] = c;
      }
      n = c;
    }
    out[n] = pattern.length;
  }

  // Breadth first, so a node's failure target (always shallower) is complete before the node itself. A node with
  // children holds back its whole depth, so `hold` of the parent gives the child's depth.
  const queue = new Int32Array(nodes);
  let head = 0;
  let tail = 1;
  const visit = (n: number, c: number) => {
    if (n !== 0) {
      let f = fail[n]!;
      while (f !== 0 && goto(f, label[c]!) === 0) f = fail[f]!;
      fail[c] = goto(f, label[c]!);
    }
    out[c] = Math.max(out[c]!, out[fail[c]!]!);
    hold[c] = child[c] !== 0 ? hold[n]! + 1 : hold[fail[c]!]!;
    queue[tail++] = c;
  };
  while (head < tail) {
    const n = queue[head++]!;
    const k = child[n]!;
    if (k > 0) visit(n, k);
    else if (k < 0) {
      for (let b = 0; b < 256; b++) {
        const c = rows[((-k - 1) << 8) | b]!;
        if (c !== 0) visit(n, c);
      }
    }
  }
  return { label, child, rows, fail, out, hold, empty: patterns.length === 0 };
}
