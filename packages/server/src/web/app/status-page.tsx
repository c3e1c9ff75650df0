import type { ComponentChildren } from 'preact';
import type { HealthResponse } from '@keybox/sdk';
import type { ServerStatus } from '../../core/status/server-status.js';
import { ApiError, type ApiErrorBody } from './api.js';
import { ErrorNote, Loading, PageTitle, Time, useLoad } from './ui.js';

const DATA_KEY_MAX_DAYS = 90;
const BACKUP_MAX_DAYS = 7;

/**
 * Neither endpoint is under /api/v1 nor needs a session, so `api()` does not fit. A 503 from the status endpoint is
 * an answer (degraded, with the same body), not a failure.
 */
async function getJson<T>(path: string, accept: (status: number) => boolean, isBody: (body: unknown) => boolean) {
  let response: Response;
  try {
    response = await fetch(path, {
      headers: { accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'UNAVAILABLE', 'the Keybox server could not be reached', undefined, undefined);
  }
  let body: unknown;
  try {
    body = (await response.json()) as unknown;
  } catch {
    body = undefined;
  }
  if (accept(response.status) && isBody(body)) return { body: body as T, httpStatus: response.status, at: new Date() };
  const error = (body as ApiErrorBody | undefined)?.error;
  throw new ApiError(
    response.status,
    error?.code ?? (response.status === 503 ? 'UNAVAILABLE' : 'INTERNAL'),
    error?.message ?? `${path} answered ${response.status}`,
    error?.requestId ?? response.headers.get('x-request-id') ?? undefined,
    error?.details,
  );
}

const hasStatus = (body: unknown) =>
  typeof body === 'object' && body !== null && typeof (body as { status?: unknown }).status === 'string';

export function StatusPage() {
  const status = useLoad(
    () => getJson<ServerStatus>('/api/secrets/status', (s) => s === 200 || s === 503, hasStatus),
    [],
  );
  const health = useLoad(() => getJson<HealthResponse>('/healthz', (s) => s === 200, hasStatus), []);
  const busy = status.loading || health.loading;
  return (
    <section>
      <PageTitle
        actions={
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              status.reload();
              health.reload();
            }}
          >
            Refresh
          </button>
        }
      >
        Status
      </PageTitle>
      <p class="muted" aria-live="polite">
        States, counts and ages only, from <code>/api/secrets/status</code> and <code>/healthz</code> — what a monitor
        polls.{' '}
        {status.data !== undefined && (
          <>
            Checked <Time iso={status.data.at.toISOString()} />
            {busy && ' (refreshing…)'}.
          </>
        )}
      </p>
      <ErrorNote error={health.error} />
      <ErrorNote error={status.error} />
      {status.data === undefined ? (
        status.error === undefined && <Loading what="the server's status" />
      ) : (
        <StatusView status={status.data.body} health={health.data?.body} />
      )}
    </section>
  );
}

function Badge({ level, children }: { level: 'ok' | 'warn' | 'bad'; children: ComponentChildren }) {
  return <span class={`badge ${level}`}>{children}</span>;
}

function Stat({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** 5231 → "1 hour 27 minutes": the largest unit and the next one, enough to read at a glance. */
function duration(seconds: number): string {
  const units: [string, number][] = [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
    ['second', 1],
  ];
  const total = Math.max(0, Math.floor(seconds));
  const i = Math.max(
    0,
    units.findIndex(([, size]) => total >= size),
  );
  const [unit, size] = units[i] ?? ['second', 1];
  const parts = [plural(Math.floor(total / size), unit)];
  const next = units[i + 1];
  if (next !== undefined) {
    const n = Math.floor((total % size) / next[1]);
    if (n > 0) parts.push(plural(n, next[0]));
  }
  return parts.join(' ');
}

function age(days: number): string {
  if (days <= 0) return 'today';
  return `${plural(days, 'day')} ago`;
}

function size(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i] ?? ''}`;
}

function StatusView({ status, health }: { status: ServerStatus; health: HealthResponse | undefined }) {
  const { store, keys, counts, audit, backup, rotation } = status;
  const keyAge = keys.activeDataKeyAgeDays;
  const backupStale = backup.last === null || backup.last.ageDays > BACKUP_MAX_DAYS;
  return (
    <>
      {status.status !== 'ok' && (
        <div class="error" role="alert">
          <p>
            <strong>The server is degraded</strong> (it answers <code>503</code> to monitors).
          </p>
          <ul>
            {!store.ok && (
              <li>
                The store cannot be read{store.error === undefined ? '' : ` (${store.error})`}: check the database and
                the server's log.
              </li>
            )}
            {audit !== null && !audit.headConsistent && (
              <li>
                The audit chain's head row, its last entry and the head file outside the database disagree: run{' '}
                <code>keybox audit verify</code> (or Verify chain on the audit log page).
              </li>
            )}
          </ul>
        </div>
      )}

      <h2>Server</h2>
      <dl class="stats">
        <Stat label="Overall">
          <Badge level={status.status === 'ok' ? 'ok' : 'bad'}>{status.status}</Badge>
        </Stat>
        <Stat label="Process">
          {health === undefined ? (
            <span class="muted">unknown</span>
          ) : (
            <Badge level={health.status === 'ok' ? 'ok' : 'bad'}>{health.status === 'ok' ? 'up' : health.status}</Badge>
          )}
        </Stat>
        <Stat label="Version">
          <code>{status.version}</code>
        </Stat>
        <Stat label="Uptime">
          <span title={`${status.uptimeSeconds} seconds`}>{duration(status.uptimeSeconds)}</span>
        </Stat>
        <Stat label="Store">
          {store.dialect === 'postgres' ? 'PostgreSQL' : store.dialect === 'sqlite' ? 'SQLite' : store.dialect}{' '}
          {store.ok ? <Badge level="ok">ok</Badge> : <Badge level="bad">error</Badge>}
          {store.error !== undefined && (
            <>
              {' '}
              <code>{store.error}</code>
            </>
          )}
        </Stat>
      </dl>

      <h2>Keys</h2>
      <dl class="stats">
        <Stat label="Root key id">
          <code>{keys.rootKeyId}</code>
        </Stat>
        <Stat label="Data keys">{keys.dataKeys}</Stat>
        <Stat label="Active data key age">
          {keyAge === null ? (
            <span class="muted">unknown</span>
          ) : (
            <>
              <span
                title={
                  keys.activeDataKeyCreatedAt === null
                    ? undefined
                    : `created ${new Date(keys.activeDataKeyCreatedAt).toLocaleString()}`
                }
              >
                {plural(keyAge, 'day')}
              </span>{' '}
              {keyAge > DATA_KEY_MAX_DAYS ? (
                <Badge level="warn">rotate: over {DATA_KEY_MAX_DAYS} days</Badge>
              ) : (
                <Badge level="ok">ok</Badge>
              )}
            </>
          )}
        </Stat>
      </dl>

      <h2>Contents</h2>
      {counts === null ? (
        <p class="error">Counts are unavailable: the store cannot be read.</p>
      ) : (
        <dl class="stats">
          <Stat label="Projects">{counts.projects}</Stat>
          <Stat label="Environments">{counts.environments}</Stat>
          <Stat label="Folders">{counts.folders}</Stat>
          <Stat label="Secrets">{counts.secrets}</Stat>
          <Stat label="Versions">{counts.versions}</Stat>
          <Stat label="Identities">{counts.identities}</Stat>
          <Stat label="Users">{counts.users}</Stat>
          <Stat label="Active tokens">{counts.activeTokens}</Stat>
        </dl>
      )}

      <h2>Audit chain</h2>
      {audit === null ? (
        <p class="error">The audit chain cannot be checked: the store cannot be read.</p>
      ) : (
        <dl class="stats">
          <Stat label="Entries">{audit.entries}</Stat>
          <Stat label="Head">
            {audit.headConsistent ? <Badge level="ok">consistent</Badge> : <Badge level="bad">inconsistent</Badge>}
          </Stat>
        </dl>
      )}
      <p class="muted">
        A quick check of the chain's ends; <code>keybox audit verify</code> (or Verify chain on the{' '}
        <a href="/ui/audit">audit log</a>, for admins) recomputes every entry.
      </p>

      <h2>Backups and key rotation</h2>
      <dl class="stats">
        <Stat label="Last backup">
          {backup.last === null ? (
            <>
              none <Badge level="warn">no backup</Badge>
            </>
          ) : (
            <>
              <span
                title={`made ${new Date(backup.last.createdAt).toLocaleString()}, ${size(backup.last.bytes)}, up to audit entry #${backup.last.auditSeq}`}
              >
                {age(backup.last.ageDays)}
              </span>{' '}
              {backupStale ? <Badge level="warn">over {BACKUP_MAX_DAYS} days</Badge> : <Badge level="ok">recent</Badge>}
            </>
          )}
        </Stat>
        <Stat label="Last key rotation">
          {rotation.last === null ? (
            <span class="muted">never</span>
          ) : (
            <>
              <span title={new Date(rotation.last.at).toLocaleString()}>{age(rotation.last.ageDays)}</span>{' '}
              <small class="muted">
                {rotation.last.kind === 'root'
                  ? 'root key'
                  : rotation.last.kind === 'data'
                    ? 'data key'
                    : rotation.last.kind}
              </small>
            </>
          )}
        </Stat>
      </dl>
      {backupStale && (
        <p class="notice">
          {backup.last === null
            ? 'No backup has been made through the server yet.'
            : `The last backup is ${plural(backup.last.ageDays, 'day')} old.`}{' '}
          Make one: <code>keybox backup create</code>
          {store.dialect === 'postgres' && (
            <span class="muted"> (backups made with pg_dump are not seen by the server)</span>
          )}
        </p>
      )}
      <p class="hint">
        {rotation.last === null && 'No key has been rotated yet. '}
        {keyAge !== null && keyAge > DATA_KEY_MAX_DAYS && `The active data key is ${plural(keyAge, 'day')} old. `}
        Rotate the data key with <code>keybox rotate data-key</code>; the root key with{' '}
        <code>keybox rotate root-key</code>.
      </p>
    </>
  );
}
