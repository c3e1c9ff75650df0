import { KeyboxError } from '../client/keybox-error.js';
import type { DeclaredItem, Manifest } from '../manifest/parse-manifest.js';

const MAX_DEPTH = 64;

export interface StripResult {
  /** A copy of the payload without any declared secret. */
  payload: unknown;
  /** What was dropped: the item and where in the payload (dot path). Never a value. */
  dropped: { name: string; path: string }[];
}

/**
 * Removes every declared secret from an incoming settings update, at any depth, so that an admin "save settings"
 * can never write a secret into the application database (ADR rule 3). A field is a secret when:
 *
 * - its dot path matches one of the item's `settingsKeys` (`*` matches any one key or array index), or
 * - its key, ignoring case, `_` and `-`, is the item's name or one of its variables (`smtpPassword`,
 *   `smtp_password` and `SMTP_PASSWORD` all match `SMTP_PASSWORD`).
 *
 * Non-secret items pass through. A matching field is dropped whatever it holds, including null or "" (clearing a
 * secret is the legacy cleanup's job, not a settings update's). Plain objects and arrays are walked (what a JSON
 * body parser produces); other objects (a Date, a Map) are kept as they are. The input is not modified.
 *
 * @example
 * const { payload, dropped } = stripSecrets(manifest, { smtp: { host: 'mail', password: 'x' } });
 * // payload: { smtp: { host: 'mail' } }, dropped: [{ name: 'SMTP_PASSWORD', path: 'smtp.password' }]
 */
export function stripSecrets(manifest: Manifest, payload: unknown): StripResult {
  const secrets = manifest.items.filter((i) => i.secret);
  const byKey = new Map<string, DeclaredItem>();
  for (const item of secrets) {
    for (const key of [item.name, ...item.envVars]) byKey.set(normaliseKey(key), item);
  }
  const byPath = secrets.flatMap((item) => item.settingsKeys.map((p) => ({ item, segments: p.split('.') })));
  const dropped: StripResult['dropped'] = [];

  function match(path: readonly string[]): DeclaredItem | undefined {
    const last = path[path.length - 1];
    const keyed = last === undefined ? undefined : byKey.get(normaliseKey(last));
    if (keyed !== undefined) return keyed;
    return byPath.find(
      ({ segments }) => segments.length === path.length && segments.every((s, i) => s === '*' || s === path[i]),
    )?.item;
  }

  function copy(value: unknown, path: string[], depth: number): unknown {
    if (typeof value !== 'object' || value === null) return value;
    if (depth >= MAX_DEPTH) {
      // Deeper than any settings form (or a cycle): refused, since keeping it unwalked could keep a secret.
      throw new KeyboxError('INVALID_INPUT', `the settings payload is nested more than ${MAX_DEPTH} levels deep`);
    }
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      value.forEach((entry, index) => {
        const at = [...path, String(index)];
        const item = match(at);
        if (item === undefined) out.push(copy(entry, at, depth + 1));
        else dropped.push({ name: item.name, path: at.join('.') });
      });
      return out;
    }
    if (!isPlainObject(value)) return value;
    const out: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(value)) {
      const at = [...path, key];
      const item = match(at);
      if (item !== undefined) {
        dropped.push({ name: item.name, path: at.join('.') });
        continue;
      }
      // defineProperty: a JSON body's own "__proto__" key must stay a key, not become the copy's prototype.
      Object.defineProperty(out, key, {
        value: copy(entry, at, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  return { payload: copy(payload, [], 0), dropped };
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
