import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../app-error.js';

export const ROOT_KEY_FILE = 'keybox.key';
const KEY_BYTES = 32;

export interface RootKey {
  key: Buffer;
  /** Short public fingerprint; stored beside wrapped keys to tell "wrong root key" from "corrupt data". */
  id: string;
  source: 'env' | 'file' | 'data-dir';
  path?: string;
  created: boolean;
  /** Set when the key file can be read by other users. */
  warning?: string;
}

export interface RootKeyOptions {
  dataDir: string;
  /** `KEYBOX_MASTER_KEY`: base64 or hex of 32 bytes. */
  masterKey?: string | undefined;
  /** `--master-key-file`: 32 raw bytes, or base64/hex text. */
  masterKeyFile?: string | undefined;
}

/**
 * Loads the root key from the environment, a key file, or `DATA_DIR/keybox.key`, creating the latter (0600,
 * exclusively, so two starting servers cannot each write one) on first start.
 */
export function loadRootKey(options: RootKeyOptions): RootKey {
  if (options.masterKey !== undefined && options.masterKey !== '') {
    const key = parseKeyMaterial(Buffer.from(options.masterKey.trim(), 'utf8'), 'KEYBOX_MASTER_KEY');
    return { key, id: rootKeyId(key), source: 'env', created: false };
  }
  if (options.masterKeyFile !== undefined && options.masterKeyFile !== '') {
    return readKeyFile(options.masterKeyFile, 'file');
  }
  const path = join(options.dataDir, ROOT_KEY_FILE);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path, 'data-dir');
    throw error;
  }
  const key = randomBytes(KEY_BYTES);
  try {
    writeSync(fd, `${key.toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  return { key, id: rootKeyId(key), source: 'data-dir', path, created: true };
}

function readKeyFile(path: string, source: 'file' | 'data-dir'): RootKey {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new AppError(
      'INVALID_INPUT',
      `cannot read the root key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    const key = parseKeyMaterial(readFileSync(fd), path, { allowRaw: true });
    const result: RootKey = { key, id: rootKeyId(key), source, path, created: false };
    if ((mode & 0o077) !== 0) {
      result.warning = `root key file ${path} has mode ${mode.toString(8).padStart(4, '0')}; it should be 0600`;
    }
    return result;
  } finally {
    closeSync(fd);
  }
}

/**
 * Accepts base64 or hex text of 32 bytes, and (from a file only) 32 raw bytes. Raw bytes must look binary: 32
 * characters of text are refused, not taken as a key, so a passphrase or a short `openssl rand -hex 16` cannot
 * silently become the root key. Never echoes the material.
 */
export function parseKeyMaterial(material: Buffer, label: string, options: { allowRaw?: boolean } = {}): Buffer {
  const text = material.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const decoded = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
    if (decoded.length === KEY_BYTES) return decoded;
  }
  if (options.allowRaw === true && material.length === KEY_BYTES && material.some((b) => b < 0x20 || b > 0x7e)) {
    return Buffer.from(material);
  }
  throw new AppError('INVALID_INPUT', `${label} is not a 32-byte key (expected base64 or hex of 32 random bytes)`);
}

export function rootKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('keybox/root-key-id/v1').digest('hex').slice(0, 16);
}
