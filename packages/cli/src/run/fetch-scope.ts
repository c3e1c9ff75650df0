import { KeyboxError, isKeyboxError, isTransient, type BulkFolder, type KeyboxClient } from '@keybox/sdk';
import type { Connection } from '../config/connection.js';
import { openClient } from '../config/connection.js';
import type { Scope } from '../config/scope.js';
import { CliError } from '../errors.js';
import type { BundleCache, CacheRead } from './bundle-cache.js';

/*
 * How `run` gets its secrets, in order: the server (with bounded retries, and a conditional request when a cached
 * copy exists), then the encrypted last-known-good cache, then a local dotenv fallback file. The server's refusal
 * (401/403/404) is final and deletes the cache, so a revocation stays effective even offline.
 */

export type Source =
  | { kind: 'server'; notModified: boolean }
  | { kind: 'cache'; ageMs: number; reason: string }
  | { kind: 'fallback'; file: string; reason: string };

export interface Fetched {
  folders: BulkFolder[];
  source: Source;
  /** The server's ETag for this content (from the cache when it came from there; none for a fallback file). */
  etag: string | undefined;
  /** The connected client (for fetching other scopes that references name); absent offline. */
  client: KeyboxClient | undefined;
}

export interface FetchOptions {
  connection: Connection;
  scope: Scope;
  recursive: boolean;
  cache: BundleCache | undefined;
  /** Use only the cache; never the network. */
  offline: boolean;
  /** Refuse a cached copy older than this. */
  cacheMaxAgeMs: number | undefined;
  /** Give up retrying after this long in total. */
  retryForMs: number;
  timeoutMs: number | undefined;
  fallbackEnvFile: string | undefined;
  /**
   * `run`'s start: with a copy of its own confirmed within CONFIRM_EVERY_MS and a server near enough (NEAR_MS),
   * ask without If-None-Match and compare ETags. See fetchScope. Not for polling (the agent).
   */
  skipFreshCopy?: boolean;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** A copy confirmed (200 or 304) this recently is not written again for the same content. */
const CONFIRM_EVERY_MS = 60_000;
/**
 * A server whose connection was up within this is near (loopback measures 0.6–0.8 ms from the event loop, a LAN
 * little more). A body over ~14 KB (TCP's initial window) may cost one round trip more than a 304; below this that
 * round trip costs less than decrypting the copy does (~4–10 ms, mostly loading node:crypto). Farther, the request
 * stays conditional.
 */
const NEAR_MS = 5;

const no = () => false;

function isRefusal(error: unknown): boolean {
  return isKeyboxError(error) && (error.status === 401 || error.status === 403 || error.status === 404);
}

/** Exponential backoff with full jitter: 200 ms, 400 ms, 800 ms… (at most 5 s a wait), within `retryForMs`. */
export async function withRetries<T>(
  attempt: () => Promise<T>,
  options: Pick<FetchOptions, 'retryForMs' | 'now' | 'sleep' | 'random'>,
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  const deadline = now() + options.retryForMs;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const wait = Math.round(random() * Math.min(5000, 200 * 2 ** n));
      if (!isTransient(error) || now() + wait > deadline) throw error;
      await sleep(wait);
    }
  }
}

/** The cached copy, or why it cannot be used (undefined: there is none). */
function fromCache(
  options: FetchOptions,
  reason: string,
  alreadyRead?: CacheRead,
): Fetched | { refused: string } | undefined {
  if (options.cache === undefined) return undefined;
  const read = alreadyRead ?? options.cache.read();
  if (!read.ok) {
    return read.reason === 'absent'
      ? undefined
      : { refused: 'the cached copy was written with another token or client secret and cannot be read with this one' };
  }
  const ageMs = (options.now ?? Date.now)() - Date.parse(read.bundle.verifiedAt);
  if (options.cacheMaxAgeMs !== undefined && ageMs > options.cacheMaxAgeMs) {
    return { refused: `the cached copy was last confirmed ${formatAge(ageMs)} ago, more than --cache-max-age` };
  }
  return {
    folders: read.bundle.folders,
    source: { kind: 'cache', ageMs, reason },
    etag: read.bundle.etag,
    client: undefined,
  };
}

async function fromFallbackFile(file: string, reason: string): Promise<Fetched> {
  const { readFileSync } = process.getBuiltinModule('node:fs');
  const { parseDotenv } = await import('../secrets/dotenv-format.js');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(
      'CONFIG_INVALID',
      `${reason}, and the fallback file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const secrets = (await parseDotenv(text, file)).map(({ name, value }) => ({ name, value, version: 0 }));
  return {
    folders: [{ path: file, revision: 0, secrets }],
    source: { kind: 'fallback', file, reason },
    etag: undefined,
    client: undefined,
  };
}

export async function fetchScope(options: FetchOptions): Promise<Fetched> {
  if (options.offline) {
    const cached = fromCache(options, '--offline');
    if (cached !== undefined && !('refused' in cached)) return cached;
    throw new CliError('UNREACHABLE', `--offline, and ${cached?.refused ?? 'there is no cached copy of this scope'}`, {
      hint: 'run once with the server reachable to fill the cache',
    });
  }
  const cache = options.cache;
  const now = options.now ?? Date.now;
  const peeked = cache?.peek();
  const confirmedAgo = (verifiedAt: string) => now() - Date.parse(verifiedAt);
  // Its own copy, confirmed a moment ago: if the server is near, asked for unconditionally, and left alone if the
  // content is the same. An unchanged answer then needs neither node:crypto nor a decryption, which are most of what
  // `run` adds to a start beyond the request (bench/README.md).
  const age = peeked?.ok === true ? confirmedAgo(peeked.peeked.verifiedAt) : Number.NaN;
  const fresh =
    options.skipFreshCopy === true &&
    peeked?.ok === true &&
    peeked.peeked.ownCredential &&
    peeked.peeked.etag !== undefined &&
    age >= 0 &&
    age < CONFIRM_EVERY_MS
      ? peeked.peeked
      : undefined;
  let etag = peeked?.ok === true ? peeked.peeked.etag : undefined;
  let cached: CacheRead | undefined;
  // With a fresh copy, whether the server turned out near (told when the connection is up).
  let near: ((value: boolean) => void) | undefined;
  const nearness = new Promise<boolean>((resolve) => (near = resolve));
  let client: KeyboxClient | undefined;
  try {
    return await withRetries(async () => {
      client ??= await openClient(options.connection, options.timeoutMs);
      const scope = {
        project: options.scope.project,
        env: options.scope.env,
        paths: options.scope.paths,
        recursive: options.recursive,
      };
      const sent = etag;
      const pending = client.bulkRead(
        scope,
        sent === undefined
          ? {}
          : {
              // (`etag` only ever goes from the copy's to none, so with a fresh copy `sent` is its ETag.)
              etag:
                fresh === undefined
                  ? sent
                  : (connectMs: number) => {
                      near?.(connectMs < NEAR_MS);
                      return connectMs < NEAR_MS ? undefined : sent;
                    },
            },
      );
      pending.catch(() => undefined);
      // A near server and a fresh copy: the answer will be whole, so nothing to decrypt (if it is what the copy
      // holds, nothing to write either).
      const skipCopy = fresh !== undefined && (await Promise.race([nearness, pending.then(no, no)]));
      if (cached === undefined && cache !== undefined && !skipCopy) {
        // While the request is in flight: load node:crypto and decrypt the cached copy (a 304 needs it; a 200 is
        // written back with the same key). Off the critical path on the first attempt, once the request is out.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (peeked?.ok === true) {
          cached = cache.open(peeked.peeked);
        } else {
          cache.prepare();
          cached = peeked ?? { ok: false, reason: 'absent' };
        }
      }
      let result = await pending;
      const verifiedAt = new Date(now()).toISOString();
      if (result.notModified && cached?.ok === true) {
        // Confirmed unchanged: note when, but rewriting the file on every run is not worth it within a minute.
        const age = confirmedAgo(cached.bundle.verifiedAt);
        if (!(age >= 0 && age < CONFIRM_EVERY_MS)) cache?.write({ ...cached.bundle, verifiedAt });
        return {
          folders: cached.bundle.folders,
          source: { kind: 'server', notModified: true },
          etag: cached.bundle.etag,
          client,
        };
      }
      if (result.notModified) {
        // The ETag came from a copy that turned out unreadable (another credential, damage): ask for the content.
        etag = undefined;
        result = await client.bulkRead(scope, {});
        if (result.notModified)
          throw new KeyboxError('BAD_RESPONSE', 'the server answered 304 to an unconditional read');
      }
      // What the fresh copy holds (unless it turned out unreadable): nothing to write, and node:crypto not loaded.
      const copyHoldsIt = fresh !== undefined && result.etag === fresh.etag && cached?.ok !== false;
      if (!copyHoldsIt) {
        cache?.write({ folders: result.data.folders, etag: result.etag, verifiedAt });
      }
      return {
        folders: result.data.folders,
        source: { kind: 'server', notModified: false },
        etag: result.etag,
        client,
      };
    }, options);
  } catch (error) {
    if (isRefusal(error)) {
      // Revoked, forbidden or gone: the cached copy must not outlive that.
      options.cache?.remove();
      throw error;
    }
    if (!isTransient(error)) throw error;
    const reason = (error as KeyboxError).message;
    const cachedCopy = fromCache(options, reason, cached);
    if (cachedCopy !== undefined && !('refused' in cachedCopy)) return cachedCopy;
    if (options.fallbackEnvFile !== undefined) return fromFallbackFile(options.fallbackEnvFile, reason);
    if (cachedCopy !== undefined) throw new CliError('UNREACHABLE', `${reason}; ${cachedCopy.refused}`);
    throw error;
  }
}

export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}
