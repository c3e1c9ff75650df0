import { isIP } from 'node:net';
import { z } from 'zod';

export const DEFAULT_PORT = 8210;

export interface ServerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly db: string | undefined;
  readonly masterKey: string | undefined;
  readonly masterKeyFile: string | undefined;
  readonly initTokenFile: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** Require client certificates signed by this CA (mutual TLS). */
  readonly tlsClientCa: string | undefined;
  /** Also stream audit entries as JSON lines to this file (0600), or `-` for stdout. */
  readonly auditFile: string | undefined;
  readonly insecureListen: boolean;
  /** Serve the web admin UI at / (the API is served either way). */
  readonly webUi: boolean;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Raw settings as the `server` command collects them: flags first, then `KEYBOX_*` environment variables. */
export interface RawServerConfig {
  dataDir?: string | undefined;
  listen?: string | undefined;
  db?: string | undefined;
  masterKey?: string | undefined;
  masterKeyFile?: string | undefined;
  initTokenFile?: string | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tlsClientCa?: string | undefined;
  auditFile?: string | undefined;
  insecureListen?: boolean | undefined;
  webUi?: boolean | undefined;
  logLevel?: string | undefined;
}

const schema = z.object({
  dataDir: z.string().min(1, 'a data dir is required (--data-dir or KEYBOX_DATA_DIR)'),
  listen: z.string().default(`127.0.0.1:${DEFAULT_PORT}`),
  db: z.string().optional(),
  // Secrets never get defaults and are never echoed back in an error.
  masterKey: z.string().optional(),
  masterKeyFile: z.string().optional(),
  initTokenFile: z.string().optional(),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  tlsClientCa: z.string().optional(),
  auditFile: z.string().optional(),
  insecureListen: z.boolean().default(false),
  webUi: z.boolean().default(true),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ConfigResult = { ok: true; config: ServerConfig } | { ok: false; errors: string[] };

/** Validates and freezes the server configuration; every problem is reported, not just the first. */
export function parseServerConfig(raw: RawServerConfig): ConfigResult {
  const parsed = schema.safeParse(stripUndefined(raw));
  const errors = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`);
  // The cross-field checks run on the raw input too, so every problem is reported in one go.
  const listen = parseListen(raw.listen ?? `127.0.0.1:${DEFAULT_PORT}`);
  if (!listen.ok) errors.push(listen.error);
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) errors.push('--tls-cert and --tls-key go together');
  if (raw.tlsClientCa !== undefined && raw.tlsCert === undefined)
    errors.push('--tls-client-ca needs --tls-cert and --tls-key');
  if (raw.masterKey !== undefined && raw.masterKeyFile !== undefined) {
    errors.push('give the root key once: KEYBOX_MASTER_KEY or --master-key-file, not both');
  }
  if (raw.db !== undefined && !/^(sqlite:|postgres(ql)?:\/\/)/.test(raw.db)) {
    errors.push('--db must be a postgres://… URL (or sqlite: for the embedded store)');
  } else if (raw.db !== undefined && raw.db.startsWith('postgres') && !URL.canParse(raw.db)) {
    // Not echoed: the URL may hold a password.
    errors.push('--db is not a valid URL');
  }
  if (listen.ok && !isLoopback(listen.host) && raw.tlsCert === undefined && raw.insecureListen !== true) {
    errors.push(
      `refusing to listen on ${listen.host} without TLS: give --tls-cert and --tls-key, or --insecure-listen if a TLS proxy sits in front`,
    );
  }
  if (!parsed.success || !listen.ok || errors.length > 0) return { ok: false, errors };
  const c = parsed.data;
  return {
    ok: true,
    config: Object.freeze({
      dataDir: c.dataDir,
      host: listen.host,
      port: listen.port,
      db: c.db,
      masterKey: c.masterKey,
      masterKeyFile: c.masterKeyFile,
      initTokenFile: c.initTokenFile,
      tlsCert: c.tlsCert,
      tlsKey: c.tlsKey,
      tlsClientCa: c.tlsClientCa,
      auditFile: c.auditFile,
      insecureListen: c.insecureListen,
      webUi: c.webUi,
      logLevel: c.logLevel,
    }),
  };
}

export function parseListen(listen: string): { ok: true; host: string; port: number } | { ok: false; error: string } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen.trim());
  if (m === null)
    return { ok: false, error: `--listen "${listen}" must be HOST:PORT (e.g. 127.0.0.1:${DEFAULT_PORT})` };
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '127.0.0.1' : m[2]);
  const port = Number(m[3]);
  if (port > 65535) return { ok: false, error: `--listen port ${port} is out of range` };
  return { ok: true, host, port };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
