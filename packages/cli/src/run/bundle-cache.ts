import type * as NodeCrypto from 'node:crypto';
import type { BulkFolder } from '@keybox/sdk';
import { writePrivateFile } from '../output/private-file.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts. node:crypto (~4 ms to load) only when the
// cache must be decrypted or written, not for every command of the bundle.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
const os = process.getBuiltinModule('node:os');

/*
 * The last-known-good copy of a scope, for when the server cannot be reached. One file per scope, AES-256-GCM, 0600
 * in a 0700 directory. The key is derived (HKDF, cheap on the hot path) from the long-lived bootstrap credential —
 * the static token or the machine identity's client secret, never the short-lived access token — so the file is
 * useless without that credential, and a cache written with one credential cannot be read with another.
 */

export interface CachedBundle {
  folders: BulkFolder[];
  etag: string | undefined;
  /** When the server last sent or confirmed (304) this content. */
  verifiedAt: string;
}

export interface CacheIdentity {
  addr: string;
  project: string;
  env: string;
  paths: readonly string[];
  recursive: boolean;
}

export function cacheDir(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CACHE_HOME'] || path.join(env['HOME'] || os.homedir(), '.cache');
  return path.join(base, 'keybox', 'bundles');
}

/** A cache file read from disk but not yet decrypted: enough to send a conditional request. */
export interface PeekedCache {
  etag: string | undefined;
  verifiedAt: string;
  /** Whether the public id in the header is this credential's: the copy is then (almost surely) readable with it. */
  ownCredential: boolean;
  blob: Buffer;
  header: string;
}

/**
 * The public part of a credential (`kbx_<id>` of a token, `kbs_<id>` of a client secret; ids are not secret: the
 * server says so, and they are in its audit log), written in the clear header so that `run` can tell without
 * node:crypto whether a copy is its own. A rotated secret has a new id. Undefined for anything else.
 */
export function credentialId(credential: string): string | undefined {
  return /^(kb[xs]_[0-9a-f]{16})\./.exec(credential)?.[1];
}

export type CacheRead = { ok: true; bundle: CachedBundle } | { ok: false; reason: 'absent' | 'undecryptable' };

const MAGIC = 'keybox-cache/v2\n';

/*
 * File layout: `keybox-cache/v2\n`, one plaintext JSON line `{ etag, verifiedAt, credential }` (no value: the ETag
 * is a digest of folder ids and revisions, the credential its public id), then nonce (12) | AES-256-GCM ciphertext |
 * tag (16), with the scope and the header line as associated data, so neither can be changed or swapped undetected.
 * The header is in clear so that `run` can decide how to ask before paying for node:crypto (~4 ms to load) and the
 * decryption (see fetch-scope.ts).
 */
export function openBundleCache(
  dir: string,
  identity: CacheIdentity,
  credential: string,
  /** Told (once) when the copy cannot be written: a read-only or odd cache dir must not stop `run`. */
  onWriteError?: (message: string) => void,
) {
  const id = JSON.stringify([
    'keybox-cache/v2',
    identity.addr,
    identity.project,
    identity.env,
    identity.paths,
    identity.recursive,
  ]);
  // A name that needs no hash (so no node:crypto before the request); a digest only when it would be too long.
  const encoded = Buffer.from(id).toString('base64url');
  const name =
    encoded.length <= 200
      ? encoded
      : process.getBuiltinModule('node:crypto').createHash('sha256').update(id).digest('base64url');
  const file = path.join(dir, `${name}.cache`);

  const ownId = credentialId(credential);
  let keyed: { crypto: typeof NodeCrypto; key: Buffer } | undefined;
  /** node:crypto and the key, on first use. */
  function prepare() {
    if (keyed === undefined) {
      const crypto = process.getBuiltinModule('node:crypto');
      keyed = { crypto, key: Buffer.from(crypto.hkdfSync('sha256', credential, 'keybox-cache/v2', id, 32)) };
    }
    return keyed;
  }

  /** The file's clear header (ETag, when last confirmed) and its sealed body, without decrypting. */
  function peek(): { ok: true; peeked: PeekedCache } | { ok: false; reason: 'absent' | 'undecryptable' } {
    let blob: Buffer;
    try {
      blob = fs.readFileSync(file);
    } catch {
      return { ok: false, reason: 'absent' };
    }
    const end = blob.indexOf(10, MAGIC.length);
    if (blob.toString('latin1', 0, MAGIC.length) !== MAGIC || end < 0) return { ok: false, reason: 'absent' };
    const header = blob.toString('utf8', MAGIC.length, end);
    try {
      const parsed = JSON.parse(header) as { etag?: unknown; verifiedAt?: unknown; credential?: unknown };
      if (typeof parsed.verifiedAt !== 'string') return { ok: false, reason: 'undecryptable' };
      const etag = typeof parsed.etag === 'string' ? parsed.etag : undefined;
      const ownCredential = ownId !== undefined && parsed.credential === ownId;
      return {
        ok: true,
        peeked: { etag, verifiedAt: parsed.verifiedAt, ownCredential, header, blob: blob.subarray(end + 1) },
      };
    } catch {
      return { ok: false, reason: 'undecryptable' };
    }
  }

  /** Decrypts what `peek` read. */
  function open(peeked: PeekedCache): CacheRead {
    const { crypto, key } = prepare();
    const { blob } = peeked;
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${id}\n${peeked.header}`));
      decipher.setAuthTag(blob.subarray(blob.length - 16));
      const plain = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
      const folders = JSON.parse(plain.toString('utf8')) as BulkFolder[];
      return { ok: true, bundle: { folders, etag: peeked.etag, verifiedAt: peeked.verifiedAt } };
    } catch {
      return { ok: false, reason: 'undecryptable' };
    }
  }

  /** The cached bundle, or a reason it cannot be used (absent, unreadable with this credential, corrupt). */
  function read(): CacheRead {
    const peeked = peek();
    return peeked.ok ? open(peeked.peeked) : peeked;
  }

  let writeFailed = false;
  /** Replaces the file atomically (a new 0600 file renamed over the old one). Best effort: false if it could not. */
  function write(bundle: CachedBundle): boolean {
    const { crypto, key } = prepare();
    const header = JSON.stringify({ etag: bundle.etag, verifiedAt: bundle.verifiedAt, credential: ownId });
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(`${id}\n${header}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(bundle.folders), 'utf8'), cipher.final()]);
    const head = Buffer.from(`${MAGIC}${header}\n`, 'utf8');
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      writePrivateFile(file, Buffer.concat([head, nonce, body, cipher.getAuthTag()]));
      return true;
    } catch (error) {
      if (!writeFailed) {
        writeFailed = true;
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        onWriteError?.(`cannot write the fallback cache in ${dir} (${code}); going on without it`);
      }
      return false;
    }
  }

  function remove(): void {
    fs.rmSync(file, { force: true });
  }

  return { file, peek, open, read, prepare, write, remove };
}

export type BundleCache = ReturnType<typeof openBundleCache>;
