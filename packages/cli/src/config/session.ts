import { CliError } from '../errors.js';

import { writePrivateFile } from '../output/private-file.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
const os = process.getBuiltinModule('node:os');

/** What `keybox login` keeps: a user's session token for one server. */
export interface Session {
  addr: string;
  token: string;
  user: string;
  expiresAt: string | null;
}

/** `$XDG_CONFIG_HOME/keybox` (default `~/.config/keybox`), the CLI's own state. */
export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env['XDG_CONFIG_HOME'] || path.join(env['HOME'] || os.homedir(), '.config');
  return path.join(base, 'keybox');
}

export function sessionFile(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), 'session.json');
}

export function readSession(env: NodeJS.ProcessEnv): Session | undefined {
  let text: string;
  try {
    text = fs.readFileSync(sessionFile(env), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const s = JSON.parse(text) as Partial<Session>;
    if (typeof s.addr !== 'string' || typeof s.token !== 'string' || typeof s.user !== 'string') return undefined;
    if (typeof s.expiresAt === 'string' && Date.parse(s.expiresAt) <= Date.now()) return undefined;
    return { addr: s.addr, token: s.token, user: s.user, expiresAt: s.expiresAt ?? null };
  } catch {
    return undefined;
  }
}

/** Writes the session 0600 in a 0700 directory, replacing any previous one atomically. */
export function writeSession(env: NodeJS.ProcessEnv, session: Session): string {
  const dir = configDir(env);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const file = sessionFile(env);
  try {
    writePrivateFile(file, `${JSON.stringify(session, null, 2)}\n`);
  } catch (error) {
    throw new CliError('CONFIG_INVALID', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return file;
}

export function removeSession(env: NodeJS.ProcessEnv): boolean {
  try {
    fs.rmSync(sessionFile(env));
    return true;
  } catch {
    return false;
  }
}
