import type { BulkFolder } from '@keybox/sdk';

// Builtins come from process.getBuiltinModule: see config/project-file.ts. node:crypto (~2.7 ms to load) only when a
// cache is opened, not for every command of the bundle.
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

export function openBundleCache(dir: string, identity: CacheIdentity, credential: string) {
  const crypto = process.getBuiltinModule('node:crypto');
  const id = JSON.stringify([
    'keybox-cache/v1',
    identity.addr,
    identity.project,
    identity.env,
    identity.paths,
    identity.recursive,
  ]);
  const file = path.join(dir, `${crypto.createHash('sha256').update(id).digest('hex').slice(0, 32)}.cache`);
  const key = Buffer.from(crypto.hkdfSync('sha256', credential, 'keybox-cache/v1', id, 32));

  /** The cached bundle, or a reason it cannot be used (absent, unreadable with this credential, corrupt). */
  function read(): { ok: true; bundle: CachedBundle } | { ok: false; reason: 'absent' | 'undecryptable' } {
    let blob: Buffer;
    try {
      blob = fs.readFileSync(file);
    } catch {
      return { ok: false, reason: 'absent' };
    }
    try {
      const nonce = blob.subarray(0, 12);
      const tag = blob.subarray(blob.length - 16);
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(Buffer.from(id));
      decipher.setAuthTag(tag);
      const plain = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
      return { ok: true, bundle: JSON.parse(plain.toString('utf8')) as CachedBundle };
    } catch {
      return { ok: false, reason: 'undecryptable' };
    }
  }

  /** Replaces the file atomically: a new 0600 file renamed over the old one. */
  function write(bundle: CachedBundle): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(id));
    const body = Buffer.concat([cipher.update(JSON.stringify(bundle), 'utf8'), cipher.final()]);
    const temp = `${file}.${process.pid}.tmp`;
    fs.rmSync(temp, { force: true });
    fs.writeFileSync(temp, Buffer.concat([nonce, body, cipher.getAuthTag()]), { mode: 0o600, flag: 'wx' });
    fs.renameSync(temp, file);
  }

  function remove(): void {
    fs.rmSync(file, { force: true });
  }

  return { file, read, write, remove };
}

export type BundleCache = ReturnType<typeof openBundleCache>;
