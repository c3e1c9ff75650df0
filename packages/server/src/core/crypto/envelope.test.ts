import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptError, blobKeyId, open, seal } from './envelope.js';

const key = createSecretKey(randomBytes(32));
const context = 'keybox/secret/v1\0project\0env\0/\0API_KEY\u00001';
const plaintext = Buffer.from('CANARY-envelope-plaintext', 'utf8');

// Blob layout: [format 1][key id 4][nonce 12][body][tag 16].
const regions = [
  { part: 'format byte', from: 0, to: 1 },
  { part: 'key id', from: 1, to: 5 },
  { part: 'nonce', from: 5, to: 17 },
  { part: 'body', from: 17, to: 17 + plaintext.length },
  { part: 'tag', from: 17 + plaintext.length, to: 17 + plaintext.length + 16 },
] as const;

function flipBit(blob: Buffer, bit: number): Buffer {
  const copy = Buffer.from(blob);
  copy[bit >> 3] = (copy[bit >> 3] as number) ^ (1 << (bit & 7));
  return copy;
}

describe('seal and open', () => {
  it('round-trips a value', () => {
    const blob = seal(key, 1, plaintext, context);
    expect(open(key, blob, context).equals(plaintext)).toBe(true);
  });

  it('round-trips an empty value and arbitrary bytes', () => {
    const binary = randomBytes(300);
    expect(open(key, seal(key, 1, Buffer.alloc(0), context), context).length).toBe(0);
    expect(open(key, seal(key, 1, binary, context), context).equals(binary)).toBe(true);
  });

  it('lays the blob out as header, nonce, body and tag, without the plaintext in clear', () => {
    const blob = seal(key, 0x01020304, plaintext, context);
    expect(blob.length).toBe(1 + 4 + 12 + plaintext.length + 16);
    expect(blob[0]).toBe(1);
    expect(blobKeyId(blob)).toBe(0x01020304);
    expect(blob.includes(plaintext)).toBe(false);
    // The tamper tests below rely on these regions covering the blob exactly.
    expect(regions.at(-1)?.to).toBe(blob.length);
  });

  it('uses a fresh nonce for every seal of the same value', () => {
    const a = seal(key, 1, plaintext, context);
    const b = seal(key, 1, plaintext, context);
    expect(a.subarray(5, 17).equals(b.subarray(5, 17))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('opens a blob held in a Uint8Array view at an offset', () => {
    const blob = seal(key, 1, plaintext, context);
    const backing = new Uint8Array(blob.length + 8);
    backing.set(blob, 8);
    expect(open(key, backing.subarray(8), context).equals(plaintext)).toBe(true);
  });
});

describe('tamper detection', () => {
  it.each(regions)('refuses a blob with any bit flipped in the $part', ({ from, to }) => {
    const blob = seal(key, 1, plaintext, context);
    for (let bit = from * 8; bit < to * 8; bit++) {
      expect(() => open(key, flipBit(blob, bit), context), `bit ${bit}`).toThrow(DecryptError);
    }
  });

  it('refuses the blob under another context string (a value moved to another row)', () => {
    const blob = seal(key, 1, plaintext, context);
    const moved = 'keybox/secret/v1\0project\0env\0/\0API_KEY\u00002';
    expect(() => open(key, blob, moved)).toThrow(DecryptError);
    expect(() => open(key, blob, `${context}x`)).toThrow(DecryptError);
    expect(() => open(key, blob, '')).toThrow(DecryptError);
  });

  it('refuses the blob under another key', () => {
    const blob = seal(key, 1, plaintext, context);
    expect(() => open(createSecretKey(randomBytes(32)), blob, context)).toThrow(DecryptError);
  });

  it('refuses a truncated or extended blob', () => {
    const blob = seal(key, 1, plaintext, context);
    expect(() => open(key, blob.subarray(0, blob.length - 1), context)).toThrow(DecryptError);
    expect(() => open(key, Buffer.concat([blob, Buffer.from([0])]), context)).toThrow(DecryptError);
    expect(() => open(key, blob.subarray(0, 20), context)).toThrow(DecryptError);
    expect(() => open(key, Buffer.alloc(0), context)).toThrow(DecryptError);
  });

  it('refuses an unknown format byte before trying to decrypt', () => {
    const blob = seal(key, 1, plaintext, context);
    blob[0] = 2;
    expect(() => blobKeyId(blob)).toThrow(/unknown format/);
    expect(() => open(key, blob, context)).toThrow(DecryptError);
  });

  it('does not put the plaintext or the context in the error', () => {
    const blob = flipBit(seal(key, 1, plaintext, context), 20 * 8);
    let message = '';
    try {
      open(key, blob, context);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/failed authentication/);
    expect(message).not.toContain('CANARY');
    expect(message).not.toContain('API_KEY');
  });
});
