/**
 * `KEYBOX_INJECTED`: what `keybox run` put into a child's environment, as names with their folder and version and
 * never a value, so an app can tell a Keybox-provided value from a stale host variable.
 *
 * Format (JSON): `{"v":1,"project":"shop","env":"dev","secrets":{"DB_URL":{"path":"/backend","version":3}}}`
 */
export const INJECTED_ENV_VAR = 'KEYBOX_INJECTED';

export interface InjectedSecret {
  path: string;
  version: number;
}

export interface InjectedManifest {
  v: 1;
  project: string;
  env: string;
  secrets: Record<string, InjectedSecret>;
}

export function formatInjected(manifest: Omit<InjectedManifest, 'v'>): string {
  return JSON.stringify({ v: 1, ...manifest });
}

/** Parses `KEYBOX_INJECTED`; anything malformed is `undefined` rather than an exception. */
export function parseInjected(text: string | undefined): InjectedManifest | undefined {
  if (text === undefined || text === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const candidate = parsed as Partial<InjectedManifest>;
  if (candidate.v !== 1 || typeof candidate.project !== 'string' || typeof candidate.env !== 'string') {
    return undefined;
  }
  const secrets: Record<string, InjectedSecret> = {};
  if (typeof candidate.secrets !== 'object' || candidate.secrets === null) return undefined;
  for (const [name, info] of Object.entries(candidate.secrets as Record<string, unknown>)) {
    if (typeof info !== 'object' || info === null) return undefined;
    const { path, version } = info as Partial<InjectedSecret>;
    if (typeof path !== 'string' || typeof version !== 'number') return undefined;
    secrets[name] = { path, version };
  }
  return { v: 1, project: candidate.project, env: candidate.env, secrets };
}
