/**
 * Naming rules shared by server and clients, so both reject the same input with the same words.
 */

/** Secret names are environment variable names: they must survive `env`, shells and dotenv files. */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const SECRET_NAME_MAX = 256;

/** Project and environment slugs: lower-case, URL- and file-name-safe. */
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

const SEGMENT_PATTERN = /^[A-Za-z0-9_.-]+$/;
export const FOLDER_PATH_MAX = 512;
export const FOLDER_DEPTH_MAX = 32;

export type NameCheck = { ok: true; value: string } | { ok: false; reason: string };

export function checkSecretName(name: string): NameCheck {
  if (name.length === 0) return { ok: false, reason: 'a secret name cannot be empty' };
  if (name.length > SECRET_NAME_MAX) {
    return { ok: false, reason: `a secret name is at most ${SECRET_NAME_MAX} characters` };
  }
  if (!SECRET_NAME_PATTERN.test(name)) {
    return {
      ok: false,
      // The name is not echoed: a mistyped `VALUE` given where `KEY=VALUE` was meant would land in stderr.
      reason: 'not a valid secret name: use letters, digits and _, not starting with a digit',
    };
  }
  return { ok: true, value: name };
}

export function checkSlug(kind: 'project' | 'environment', slug: string): NameCheck {
  if (!SLUG_PATTERN.test(slug)) {
    return {
      ok: false,
      reason: `"${printable(slug)}" is not a valid ${kind} slug: use 1-64 lower-case letters, digits and -, starting and ending with a letter or digit`,
    };
  }
  return { ok: true, value: slug };
}

/**
 * Normalises a folder path: leading `/`, no trailing `/`, no empty, `.` or `..` segments.
 * `""` and `"/"` are the root folder.
 */
export function checkFolderPath(path: string): NameCheck {
  if (path.length > FOLDER_PATH_MAX) {
    return { ok: false, reason: `a folder path is at most ${FOLDER_PATH_MAX} characters` };
  }
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return { ok: true, value: '/' };
  if (!trimmed.startsWith('/')) {
    return { ok: false, reason: `folder path "${printable(path)}" must start with /` };
  }
  const segments = trimmed.slice(1).split('/');
  if (segments.length > FOLDER_DEPTH_MAX) {
    return { ok: false, reason: `folder paths are at most ${FOLDER_DEPTH_MAX} levels deep` };
  }
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..' || !SEGMENT_PATTERN.test(segment)) {
      return {
        ok: false,
        reason: `folder path "${printable(path)}" is not valid: segments use letters, digits, _, . and -, and cannot be empty, . or ..`,
      };
    }
  }
  return { ok: true, value: trimmed };
}

/** Depth of a normalised folder path: `/` is 0, `/a` is 1, `/a/b` is 2. */
export function folderDepth(path: string): number {
  if (path === '/') return 0;
  let depth = 0;
  for (const ch of path) if (ch === '/') depth++;
  return depth;
}

/** Whether `path` is `ancestor` itself or lies below it. Both must be normalised. */
export function isWithinFolder(path: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return path === ancestor || path.startsWith(`${ancestor}/`);
}

/** Names are echoed in error messages; keep them short and free of control characters. */
function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
