import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  createMaskCore,
  createMasker,
  DEFAULT_MIN_LENGTH,
  MASK,
  selectMaskable,
  type MaskCore,
} from './mask-stream.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

/** The answer without streaming: every occurrence found in the whole input, overlapping ones merged, each run masked. */
function maskAtOnce(input: Buffer, values: readonly string[], minLength = DEFAULT_MIN_LENGTH): Buffer {
  const spans: [number, number][] = [];
  for (const value of values) {
    if (value === '' || Array.from(value).length < minLength) continue;
    const needle = bytes(value);
    for (let at = input.indexOf(needle); at !== -1; at = input.indexOf(needle, at + 1)) {
      spans.push([at, at + needle.length]);
    }
  }
  spans.sort((a, b) => a[0] - b[0]);
  const pieces: Buffer[] = [];
  let cursor = 0;
  let open: [number, number] | undefined;
  for (const [start, end] of spans) {
    if (open !== undefined && start < open[1]) open[1] = Math.max(open[1], end);
    else {
      if (open !== undefined) cursor = open[1];
      pieces.push(input.subarray(cursor, start), bytes(MASK));
      open = [start, end];
    }
  }
  pieces.push(input.subarray(open === undefined ? cursor : open[1]));
  return Buffer.concat(pieces);
}

/**
 * Feeds the chunks one by one. Checks after every push that what came out so far is a prefix of the final answer:
 * a value, or a piece of one, that leaked and was masked later would break that.
 */
function feed(core: MaskCore, chunks: readonly Buffer[], expected: Buffer): Buffer {
  const outputs: Buffer[] = [];
  for (const chunk of chunks) {
    outputs.push(core.push(chunk));
    const soFar = Buffer.concat(outputs);
    expect(expected.subarray(0, soFar.length).equals(soFar), `leak after ${outputs.length} chunks`).toBe(true);
  }
  outputs.push(core.flush());
  return Buffer.concat(outputs);
}

function splitAt(input: Buffer, ...cuts: number[]): Buffer[] {
  return [0, ...cuts].map((from, i) => input.subarray(from, [...cuts, input.length][i]));
}

/** mulberry32: a small seeded PRNG, so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('createMaskCore', () => {
  it('(the leak check used below fails when a piece of a value is written before the mask)', () => {
    const leaky: MaskCore = { push: (chunk) => Buffer.from(chunk), flush: () => Buffer.alloc(0), held: 0 };
    expect(() => feed(leaky, [bytes('pw: hun'), bytes('ter2!')], bytes(`pw: ${MASK}`))).toThrow(/leak after 1/);
  });

  const value = 'pässwörd€🔑-42';
  const input = bytes(`before ${value} after`);
  const expected = bytes(`before ${MASK} after`);

  it('masks a value split across two writes at every possible byte', () => {
    for (let cut = 0; cut <= input.length; cut++) {
      expect(feed(createMaskCore([value]), splitAt(input, cut), expected).toString()).toBe(expected.toString());
    }
  });

  it('masks a value split across three writes at every pair of cuts', () => {
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b++) {
        expect(feed(createMaskCore([value]), splitAt(input, a, b), expected).equals(expected)).toBe(true);
      }
    }
  });

  it('masks a value split inside a multi-byte character, one byte per write', () => {
    const key = input.indexOf(bytes('🔑'));
    for (let inner = 1; inner < 4; inner++) {
      expect(feed(createMaskCore([value]), splitAt(input, key + inner), expected).equals(expected)).toBe(true);
    }
    const oneByteEach = [...input].map((b) => Buffer.from([b]));
    expect(feed(createMaskCore([value]), oneByteEach, expected).equals(expected)).toBe(true);
  });

  it('masks adjacent occurrences one by one and merges overlapping ones', () => {
    const run = (values: string[], text: string) => {
      const core = createMaskCore(values);
      return Buffer.concat([core.push(bytes(text)), core.flush()]).toString();
    };
    expect(run(['abcd'], 'abcdabcd')).toBe(`${MASK}${MASK}`);
    expect(run(['abcd'], 'abcd abcd')).toBe(`${MASK} ${MASK}`);
    expect(run(['abcab'], 'xabcabcabx')).toBe(`x${MASK}x`);
    expect(run(['abcd', 'cdef'], 'xabcdefx')).toBe(`x${MASK}x`);
    expect(run(['bcde', 'abc-long', 'xyz-'], 'abc-xyz-bcde')).toBe(`abc-${MASK}${MASK}`);
  });

  it('masks the longest value when one is a prefix or a part of another', () => {
    const values = ['secret', 'secret-long', 'key-123'];
    const core = createMaskCore(values);
    const text = 'secret-long secret secret-lo my-key-123-x';
    const result = Buffer.concat([core.push(bytes(text)), core.flush()]).toString();
    expect(result).toBe(`${MASK} ${MASK} ${MASK}-lo my-${MASK}-x`);
    expect(createMaskCore(['secret-long', 'secret']).push(bytes('secret-long!')).toString()).toBe(`${MASK}!`);
  });

  it('passes output that holds no value prefix through on the same push', () => {
    const core = createMaskCore(['hunter2!']);
    const progress = bytes('downloading 42%\r');
    expect(core.push(progress).equals(progress)).toBe(true);
    expect(core.held).toBe(0);
    expect(core.push(bytes('hun')).toString()).toBe('');
    expect(core.held).toBe(3);
    expect(core.push(bytes('gry\n')).toString()).toBe('hungry\n');
    expect(core.held).toBe(0);
  });

  it('writes the mask as soon as the value is complete, before the next byte', () => {
    const core = createMaskCore(['hunter2!', 'hunter2!-and-more']);
    expect(core.push(bytes('pw: hunter2!')).toString()).toBe(`pw: ${MASK}`);
    expect(core.push(bytes('-and-more.')).toString()).toBe('.');
  });

  it('holds back only the longest suffix that can still start a value, and flushes it at the end', () => {
    const core = createMaskCore(['abcdef', 'cdxy']);
    expect(core.push(bytes('tail abcd')).toString()).toBe('tail ');
    expect(core.held).toBe(4);
    expect(core.push(bytes('x')).toString()).toBe('ab');
    expect(core.held).toBe(3);
    expect(core.flush().toString()).toBe('cdx');
    expect(core.held).toBe(0);
  });

  it('masks a value that ends inside a longer one being matched', () => {
    const core = createMaskCore(['abcdefgh', 'cdef']);
    expect(Buffer.concat([core.push(bytes('abcdefXX')), core.flush()]).toString()).toBe(`ab${MASK}XX`);
  });

  it('merges a value that starts inside one just completed, across writes', () => {
    const core = createMaskCore(['abcd', 'cdxy']);
    expect(core.push(bytes('-abcd')).toString()).toBe(`-${MASK}`);
    expect(core.held).toBe(2);
    expect(Buffer.concat([core.push(bytes('xy-')), core.flush()]).toString()).toBe('-');
  });

  it('waits to write a mask while a longer match could still begin before it', () => {
    const core = createMaskCore(['xbcdefg', 'bcde']);
    expect(core.push(bytes('xbcde')).toString()).toBe('');
    expect(Buffer.concat([core.push(bytes('fg')), core.flush()]).toString()).toBe(MASK);
    const other = createMaskCore(['xbcdefg', 'bcde']);
    expect(Buffer.concat([other.push(bytes('xbcde')), other.push(bytes('!')), other.flush()]).toString()).toBe(
      `x${MASK}!`,
    );
  });

  it('leaves short and empty values alone, counting characters rather than bytes', () => {
    expect(selectMaskable(['abc', '', 'ééé', 'abcd', 'abcd'])).toEqual(['abcd']);
    expect(selectMaskable(['abc', '', 'ab'], { minLength: 3 })).toEqual(['abc']);
    expect(selectMaskable(['', 'a'], { minLength: 0 })).toEqual(['a']);
    const core = createMaskCore(['abc', 'ééé', 'long-enough']);
    expect(Buffer.concat([core.push(bytes('abc ééé long-enough')), core.flush()]).toString()).toBe(`abc ééé ${MASK}`);
  });

  it('does not depend on the caller keeping its buffer intact', () => {
    const core = createMaskCore(['top-secret']);
    const reused = Buffer.from('see top-');
    const first = core.push(reused).toString();
    reused.fill(0x21);
    expect(first + Buffer.concat([core.push(bytes('secret.')), core.flush()]).toString()).toBe(`see ${MASK}.`);
  });

  it('passes binary input through unchanged except for the values', () => {
    const random = prng(7);
    const noise = Buffer.from(Array.from({ length: 8192 }, () => Math.floor(random() * 256)));
    noise[100] = 0xff; // never valid in UTF-8
    noise[101] = 0xc3; // a lead byte without its continuation, right before a value
    const plain = createMaskCore(['zzzz-no-such-value']);
    expect(Buffer.concat([plain.push(noise), plain.flush()]).equals(noise)).toBe(true);

    const values = ['émoji🔑key', 'binary-ish\u0000value'];
    const input = Buffer.concat([noise.subarray(0, 102), bytes(values[0]!), noise.subarray(102), bytes(values[1]!)]);
    const expected = maskAtOnce(input, values);
    const chunks = splitAt(input, 50, 103, 4000, input.length - 3);
    const result = feed(createMaskCore(values), chunks, expected);
    expect(result.equals(expected)).toBe(true);
    expect(result.subarray(0, 102).equals(noise.subarray(0, 102))).toBe(true);
    expect(result.indexOf(bytes(values[0]!))).toBe(-1);
  });

  it('matches the whole-input answer and never leaks a value, whatever the chunking (seeded)', () => {
    for (let seed = 1; seed <= 600; seed++) {
      const random = prng(seed);
      const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
      // Half the cases draw from three letters only, so values overlap, nest and repeat all the time.
      const alphabet = seed % 2 === 0 ? ['a', 'b', 'é'] : ['a', 'b', 'c', 'é', '€', '😀', ' ', '\n'];
      const letters = alphabet.slice(0, 6);
      const word = (min: number, max: number) =>
        Array.from({ length: min + Math.floor(random() * (max - min + 1)) }, () => pick(letters)).join('');
      const values = Array.from({ length: 1 + Math.floor(random() * 6) }, () => word(2, 9));
      // Some values are pieces of others: a prefix, a suffix, or the middle.
      for (const value of [...values]) {
        const chars = Array.from(value);
        const from = Math.floor(random() * 3);
        if (random() < 0.5) values.push(chars.slice(from, from + 4 + Math.floor(random() * 3)).join(''));
      }
      let text = '';
      while (text.length < 300) text += random() < 0.3 ? pick(values) : word(0, 12) + pick(alphabet);
      const input = bytes(text);
      const expected = maskAtOnce(input, values);

      const cuts: number[] = [];
      for (let at = 0; at < input.length; at += 1 + Math.floor(random() * (random() < 0.5 ? 4 : 40))) cuts.push(at);
      const result = feed(createMaskCore(values), splitAt(input, ...cuts.slice(1)), expected);
      expect(result.equals(expected), `seed ${seed}`).toBe(true);
      for (const value of selectMaskable(values)) expect(result.includes(bytes(value)), `seed ${seed}`).toBe(false);
    }
  });

  it('masks hundreds of long values, chunked', () => {
    const random = prng(99);
    const values = Array.from({ length: 300 }, (_, i) =>
      Buffer.from(Array.from({ length: 100 + i * 7 }, () => Math.floor(random() * 256))).toString('base64'),
    );
    const parts = values.filter((_, i) => i % 37 === 0).flatMap((v) => ['log line ', v.slice(0, 50), v, '\n']);
    const input = bytes(parts.join(''));
    const expected = maskAtOnce(input, values);
    const cuts = Array.from({ length: Math.floor(input.length / 997) }, (_, i) => (i + 1) * 997);
    expect(feed(createMaskCore(values), splitAt(input, ...cuts), expected).equals(expected)).toBe(true);
    expect(expected.toString().split(MASK).length - 1).toBe(9);
  });
});

describe('createMasker', () => {
  it('masks a value added to the array after an earlier masker was made from it', () => {
    const values = ['first-secret'];
    const stdout = createMaskCore(values);
    values.push('second-secret');
    const stderr = createMaskCore(values);
    const text = bytes('first-secret second-secret');
    expect(Buffer.concat([stdout.push(text), stdout.flush()]).toString()).toBe(`${MASK} second-secret`);
    expect(Buffer.concat([stderr.push(text), stderr.flush()]).toString()).toBe(`${MASK} ${MASK}`);
    expect(Buffer.concat([createMaskCore(values, { minLength: 20 }).push(text)]).toString()).toBe(text.toString());
  });

  it('is a byte stream that masks across writes and flushes at the end', async () => {
    const masker = createMasker(['hunter2!']);
    const sink = new PassThrough();
    const received: Buffer[] = [];
    sink.on('data', (chunk: Buffer) => received.push(chunk));
    masker.pipe(sink);
    masker.write('login ok\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(Buffer.concat(received).toString()).toBe('login ok\n');
    masker.write('pw: hun');
    masker.write(bytes('ter2! and hun'));
    masker.end();
    await new Promise((resolve) => sink.on('end', resolve));
    expect(Buffer.concat(received).toString()).toBe(`login ok\npw: ${MASK} and hun`);
  });
});
