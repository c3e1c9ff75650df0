/*
 * Folder globs in policies. A deliberately small grammar, so a policy reads the same to everyone:
 *   /backend          that folder only
 *   /backend/*        its direct sub-folders (one segment, any name)
 *   /backend/**       the folder itself and everything below it
 *   /**               every folder
 * `*` and `**` stand for whole segments; `**` only as the last one. Anything else is literal.
 */

export type GlobCheck = { ok: true; match: (path: string) => boolean } | { ok: false; reason: string };

export function compileGlob(pattern: string): GlobCheck {
  if (!pattern.startsWith('/')) return { ok: false, reason: `folder pattern "${pattern}" must start with /` };
  const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  const segments = trimmed === '/' ? [] : trimmed.slice(1).split('/');
  for (const [i, segment] of segments.entries()) {
    if (segment === '') return { ok: false, reason: `folder pattern "${pattern}" has an empty segment` };
    if (segment === '**' && i !== segments.length - 1) {
      return { ok: false, reason: `folder pattern "${pattern}": ** is only allowed as the last segment` };
    }
    if (segment !== '*' && segment !== '**' && segment.includes('*')) {
      return { ok: false, reason: `folder pattern "${pattern}": * stands for a whole segment` };
    }
  }
  const recursive = segments[segments.length - 1] === '**';
  const fixed = recursive ? segments.slice(0, -1) : segments;
  return {
    ok: true,
    match(path: string): boolean {
      const parts = path === '/' ? [] : path.slice(1).split('/');
      if (recursive ? parts.length < fixed.length : parts.length !== fixed.length) return false;
      return fixed.every((segment, i) => segment === '*' || segment === parts[i]);
    },
  };
}

/** Whether any folder matched by `pattern` could lie at or below `path` (used to decide what a listing may show). */
export function globReachesBelow(pattern: string, path: string): boolean {
  const segments = pattern === '/' ? [] : pattern.replace(/\/+$/, '').slice(1).split('/');
  const parts = path === '/' ? [] : path.slice(1).split('/');
  for (const [i, part] of parts.entries()) {
    const segment = segments[i];
    if (segment === undefined) return false;
    if (segment === '**') return true;
    if (segment !== '*' && segment !== part) return false;
  }
  return true;
}
