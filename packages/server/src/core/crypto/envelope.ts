import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';

/*
 * Every encrypted blob Keybox stores:
 *
 *   [u8 format = 1][u32 BE key id][12-byte random nonce][ciphertext][16-byte GCM tag]
 *
 * AES-256-GCM. The header (format + key id) and a caller-supplied context string are authenticated as associated
 * data, so a blob copied to another row (another location, name or version) or relabelled with another key id
 * fails to decrypt. The key id on every blob lets a later key rotation re-encrypt lazily.
 */
const FORMAT = 1;
const HEADER_BYTES = 5;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class DecryptError extends Error {
  override readonly name = 'DecryptError';
}

export function seal(key: KeyObject, keyId: number, plaintext: Buffer, context: string): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt8(FORMAT, 0);
  header.writeUInt32BE(keyId, 1);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
}

/** The key id a blob was sealed with, read from its header. */
export function blobKeyId(blob: Uint8Array): number {
  if (blob.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES || blob[0] !== FORMAT) {
    throw new DecryptError('not a Keybox encrypted blob (unknown format)');
  }
  return Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).readUInt32BE(1);
}

export function open(key: KeyObject, blob: Uint8Array, context: string): Buffer {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  blobKeyId(buf);
  const header = buf.subarray(0, HEADER_BYTES);
  const nonce = buf.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const body = buf.subarray(HEADER_BYTES + NONCE_BYTES, buf.length - TAG_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptError('ciphertext failed authentication (tampered, moved, or wrong key)');
  }
}
