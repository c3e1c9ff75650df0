/*
 * The UI's one way to the server: the native API under /api/v1, authenticated by the session cookie (HttpOnly, so
 * never visible here) together with the session key, the other half of the token (http/routes/session-routes.ts),
 * sent in the X-Keybox-Session header. The key is the only thing kept in the browser's storage: alone it is worth
 * nothing. Values only ever travel in bodies, never in a URL.
 */

const KEY_ITEM = 'keybox.sessionKey';

export const sessionKey = {
  get: (): string | null => localStorage.getItem(KEY_ITEM),
  set: (key: string) => localStorage.setItem(KEY_ITEM, key),
  clear: () => localStorage.removeItem(KEY_ITEM),
};

export interface ApiErrorBody {
  error?: { code?: string; message?: string; requestId?: string; details?: Record<string, unknown> };
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    readonly details: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

/** Fired when the server says the session is over: the app goes back to the sign-in page. */
export const SIGNED_OUT_EVENT = 'keybox:signed-out';

type Query = Record<string, string | number | boolean | undefined>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

export async function api<T>(
  method: string,
  path: string,
  /** `quiet`: a 401 is only this call's failure (the look-up of who is signed in), not the end of a session. */
  options: { query?: Query; body?: unknown; quiet?: boolean } = {},
) {
  const headers: Record<string, string> = { 'x-keybox-csrf': '1', accept: 'application/json' };
  const key = sessionKey.get();
  if (key !== null) headers['x-keybox-session'] = key;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(withQuery(`/api/v1${path}`, options.query), {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: options.body === undefined ? null : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, 'UNAVAILABLE', 'the Keybox server could not be reached', undefined, undefined);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as ApiErrorBody | undefined)?.error;
    const failure = new ApiError(
      response.status,
      error?.code ?? 'INTERNAL',
      error?.message ?? `the server answered ${response.status}`,
      error?.requestId ?? response.headers.get('x-request-id') ?? undefined,
      error?.details,
    );
    // A 401 may be about this request only (a wrong current password): the session is over only if a look-up of
    // the session answers 401 too (not when it fails for another reason: the server may be restarting).
    if (response.status === 401 && options.quiet !== true) {
      api('GET', '/auth/token', { quiet: true }).catch((error: unknown) => {
        if (error instanceof ApiError && error.status === 401) {
          sessionKey.clear();
          window.dispatchEvent(new Event(SIGNED_OUT_EVENT));
        }
      });
    }
    throw failure;
  }
  return parsed as T;
}

/** A folder that does not exist yet is shown empty: writing its first secret creates it. */
export async function orEmpty<T>(load: Promise<T>, empty: T): Promise<T> {
  try {
    return await load;
  } catch (error) {
    // A missing folder's NOT_FOUND names its path only (a missing secret's names the secret too).
    const details = error instanceof ApiError ? error.details : undefined;
    if (
      error instanceof ApiError &&
      error.code === 'NOT_FOUND' &&
      details?.['path'] !== undefined &&
      !('name' in details)
    ) {
      return empty;
    }
    throw error;
  }
}

/** `/projects/:project/environments/:env` with each part encoded. */
export function envPath(project: string, env: string): string {
  return `/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(env)}`;
}

// The API's answers, as far as the UI reads them.

export interface Principal {
  type: 'user' | 'identity' | 'token';
  name: string;
  actor: string;
  policies: string[];
}

export interface TokenLookup {
  token: { id: string; kind: string; expiresAt: string | null };
  principal: Principal;
}

export type {
  BatchResult,
  EnvironmentInfo as Environment,
  FolderInfo as Folder,
  FolderRevisionInfo as FolderRevision,
  ProjectInfo as Project,
  SecretMeta,
  SecretVersionInfo as SecretVersion,
} from '@keybox/sdk';
