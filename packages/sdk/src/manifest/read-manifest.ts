import { loadFs } from '../client/builtins.js';
import { KeyboxError } from '../client/keybox-error.js';
import { isParsedManifest, parseManifest, type Manifest, type ManifestIssue } from './parse-manifest.js';

/**
 * A valid manifest from a parsed one, a plain object, or the path of a JSON file; anything else throws a
 * `CONFIG_INVALID` KeyboxError listing every issue (in `details.issues`).
 *
 * @example
 * const manifest = assertManifest(JSON.parse(text));
 */
export function assertManifest(input: unknown, source = 'the manifest'): Manifest {
  if (isParsedManifest(input)) return input;
  if (typeof input === 'string' || input instanceof URL) return readManifestFile(input);
  const parsed = parseManifest(input);
  if (parsed.ok) return parsed.manifest;
  throw manifestError(source, parsed.issues);
}

/**
 * Reads and validates a JSON manifest file (the SDK reads JSON only, to stay dependency-free; `keybox check` also
 * reads YAML).
 *
 * @example
 * const manifest = readManifestFile(new URL('./keybox.manifest.json', import.meta.url));
 */
export function readManifestFile(path: string | URL): Manifest {
  const shown = path instanceof URL ? decodeURIComponent(path.pathname) : path;
  let text: string;
  try {
    text = loadFs().readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KeyboxError('CONFIG_INVALID', `cannot read the manifest ${shown} (${code})`, { cause: error });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // The parser's own message quotes the text around the mistake; a manifest should hold no value, but one pasted
    // by mistake must not end up in a log.
    throw new KeyboxError('CONFIG_INVALID', `the manifest ${shown} is not valid JSON`);
  }
  const parsed = parseManifest(data);
  if (!parsed.ok) throw manifestError(shown, parsed.issues);
  return parsed.manifest;
}

export function manifestError(source: string, issues: readonly ManifestIssue[]): KeyboxError {
  const list = issues.map((i) => `${i.at}: ${i.message}`);
  const shown = list.length > 5 ? [...list.slice(0, 5), `and ${list.length - 5} more`] : list;
  return new KeyboxError('CONFIG_INVALID', `${source} is not valid: ${shown.join('; ')}`, {
    details: { issues: issues.map((i) => ({ ...i })) },
  });
}
