import { useEffect, useRef, useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, ApiError, withQuery } from './api.js';
import { useSession } from './session.js';
import { Empty, ErrorNote, PageTitle, Show, TableHead, useAction, useLoad, valueOf } from './ui.js';

/** An entry as `GET /audit` lists it (core/audit/audit-query.ts): names, actions and outcomes, never a value. */
interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  actorType: string;
  sourceIp: string;
  userAgent: string;
  action: string;
  resource: string;
  outcome: string;
  requestId: string;
  details: unknown;
}

/** `GET /audit/verify` (core/audit/audit-verify.ts). */
interface VerifyResult {
  ok: boolean;
  count: number;
  head: { seq: number; mac: string };
  problems: string[];
}

const PAGE = 100;
const OUTCOMES = ['success', 'failure', 'denied', 'error'] as const;
const FILTER_KEYS = ['actor', 'action', 'path', 'outcome', 'since'] as const;
type Filters = Record<(typeof FILTER_KEYS)[number], string>;

const NO_FILTERS: Filters = { actor: '', action: '', path: '', outcome: '', since: '' };

function filtersOf(query: Record<string, string>): Filters {
  const outcome = query['outcome'] ?? '';
  return {
    actor: query['actor'] ?? '',
    action: query['action'] ?? '',
    path: query['path'] ?? '',
    // A hand-edited link with another outcome would only earn a 400: it is shown as "any".
    outcome: (OUTCOMES as readonly string[]).includes(outcome) ? outcome : '',
    since: query['since'] ?? '',
  };
}

/** The page's own URL for a set of filters: what gets linked, so it holds names and actions only. */
function hrefOf(filters: Filters): string {
  return withQuery(
    '/ui/audit',
    Object.fromEntries(FILTER_KEYS.map((k) => [k, filters[k] === '' ? undefined : filters[k]])),
  );
}

/** `/backend/` and `backend` mean the folder `/backend`: the server matches the path as written. */
function normalisePath(path: string): string {
  const trimmed = path.trim();
  if (trimmed === '') return '';
  return `/${trimmed
    .split('/')
    .filter((s) => s !== '')
    .join('/')}`;
}

/**
 * A time typed as a date or a date and time, as ISO-8601 in UTC: the browser reads a time without a zone as local
 * time, which is what the person typing it meant (the server would read it in its own zone).
 */
function normaliseSince(since: string): string | undefined {
  const trimmed = since.trim();
  if (trimmed === '') return '';
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** The filters as applied, or undefined while `since` is not a time yet. */
function normalise(draft: Filters): Filters | undefined {
  const since = normaliseSince(draft.since);
  if (since === undefined) return undefined;
  return {
    actor: draft.actor.trim(),
    action: draft.action.trim(),
    path: normalisePath(draft.path),
    outcome: draft.outcome,
    since,
  };
}

function listAudit(filters: Filters, before?: number) {
  const opt = (v: string) => (v === '' ? undefined : v);
  return api<{ entries: AuditEntry[] }>('GET', '/audit', {
    query: {
      actor: opt(filters.actor),
      action: opt(filters.action),
      path: opt(filters.path),
      outcome: opt(filters.outcome),
      since: opt(filters.since),
      before,
      limit: PAGE,
    },
  });
}

export function AuditPage() {
  const { admin } = useSession();
  if (!admin) {
    return (
      <section>
        <PageTitle>Audit log</PageTitle>
        <p class="notice">
          The audit log is for admins. Ask one, or read it from the CLI with an admin token:{' '}
          <code>keybox audit list</code>
        </p>
      </section>
    );
  }
  return <AuditLog />;
}

function AuditLog() {
  const { query, route } = useLocation();
  const applied = filtersOf(query);
  const key = hrefOf(applied);
  const first = useLoad(() => listAudit(applied), [key]);
  // Older pages belong to the filters they were fetched for; a change of filters starts again from the newest.
  const [older, setOlder] = useState<{ key: string; entries: AuditEntry[]; more: boolean } | undefined>();
  const olderHere = older?.key === key ? older : undefined;
  const entries = [...(first.data?.entries ?? []), ...(olderHere?.entries ?? [])];
  const more = olderHere?.more ?? (first.data !== undefined && first.data.entries.length === PAGE);
  const loadOlder = useAction(async () => {
    const last = entries.at(-1);
    if (last === undefined) return;
    const page = await listAudit(applied, last.seq);
    setOlder({ key, entries: [...(olderHere?.entries ?? []), ...page.entries], more: page.entries.length === PAGE });
  });
  const refresh = () => {
    setOlder(undefined);
    first.reload();
  };
  const apply = (filters: Filters, replace: boolean) => {
    const href = hrefOf(filters);
    if (href === key) refresh();
    else route(href, replace);
  };
  const filtered = key !== '/ui/audit';
  const verify = useVerify();

  return (
    <section>
      <PageTitle
        actions={
          <button type="button" disabled={verify.busy} onClick={() => void verify.run()}>
            Verify chain
          </button>
        }
      >
        Audit log
      </PageTitle>
      <p class="muted">
        Every API request: who, from where, what and with which outcome — never a value. Entries are chained with a MAC,
        so an edited, removed or reordered entry shows when the chain is verified.
      </p>
      <VerifyPanel verify={verify} />
      <FilterForm applied={applied} appliedKey={key} onApply={apply} />
      <Show load={first}>
        {() =>
          entries.length === 0 ? (
            <Empty>{filtered ? 'No entry matches these filters.' : 'The audit log is empty.'}</Empty>
          ) : (
            <>
              <p class="muted" aria-live="polite">
                {entries.length} {entries.length === 1 ? 'entry' : 'entries'} shown, newest first
                {first.loading && ' (updating…)'}
              </p>
              <AuditTable entries={entries} applied={applied} />
              <ErrorNote error={loadOlder.error} />
              {more ? (
                <div class="buttons">
                  <button type="button" disabled={loadOlder.busy} onClick={() => void loadOlder.run()}>
                    Older entries
                  </button>
                </div>
              ) : (
                <p class="muted">No older entries{filtered ? ' match these filters' : ''}.</p>
              )}
            </>
          )
        }
      </Show>
    </section>
  );
}

/**
 * The filters as typed, applied to the URL (and so to the query) on Enter, on "Apply", when the outcome changes, and
 * after a pause in typing. The URL is the source of truth: back and forward, or a followed link, fill the form again.
 */
function FilterForm({
  applied,
  appliedKey,
  onApply,
}: {
  applied: Filters;
  appliedKey: string;
  onApply: (filters: Filters, replace: boolean) => void;
}) {
  const [draft, setDraft] = useState<Filters>(applied);
  const [sinceError, setSinceError] = useState(false);
  // What this form put into the URL itself: that change must not overwrite what is being typed meanwhile.
  const pushed = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (pushed.current === appliedKey) {
      pushed.current = undefined;
      return;
    }
    setDraft(applied);
    setSinceError(false);
  }, [appliedKey]);

  const submit = (next: Filters, replace: boolean) => {
    const filters = normalise(next);
    if (filters === undefined) {
      setSinceError(true);
      return;
    }
    setSinceError(false);
    const href = hrefOf(filters);
    if (href !== appliedKey) pushed.current = href;
    onApply(filters, replace);
  };

  // Typing settles for a moment: apply, replacing the history entry rather than adding one per pause.
  useEffect(() => {
    const filters = normalise(draft);
    if (filters === undefined || hrefOf(filters) === appliedKey) return;
    const timer = setTimeout(() => submit(draft, true), 600);
    return () => clearTimeout(timer);
    // The URL too: applied by other means meanwhile (Enter, a link), the pending timer is dropped.
  }, [draft.actor, draft.action, draft.path, draft.since, appliedKey]);

  const set = (k: keyof Filters) => (e: Parameters<typeof valueOf>[0]) => setDraft((d) => ({ ...d, [k]: valueOf(e) }));
  const anyFilter = FILTER_KEYS.some((k) => draft[k] !== '');

  return (
    <form
      class="filters"
      role="search"
      aria-label="Filter the audit log"
      onSubmit={(e) => {
        e.preventDefault();
        submit(draft, false);
      }}
    >
      <TextFilter
        label="Actor"
        value={draft.actor}
        onInput={set('actor')}
        placeholder="user:alice"
        title="Exactly as recorded: user:NAME, identity:NAME, token:NAME or anonymous"
      />
      <TextFilter
        label="Action"
        value={draft.action}
        onInput={set('action')}
        placeholder="secrets.read"
        title="An exact action (secrets.read) or a prefix up to a dot (secrets)"
      />
      <TextFilter
        label="Path"
        value={draft.path}
        onInput={set('path')}
        placeholder="/backend"
        title="A folder: entries about it or anything below it"
      />
      <label>
        Outcome
        <select
          value={draft.outcome}
          onChange={(e) => {
            const next = { ...draft, outcome: valueOf(e) };
            setDraft(next);
            submit(next, false);
          }}
        >
          <option value="">any</option>
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </label>
      <label>
        Since
        <input
          value={draft.since}
          onInput={set('since')}
          placeholder="2026-11-01"
          autocomplete="off"
          spellcheck={false}
          aria-invalid={sinceError ? true : undefined}
          aria-describedby={sinceError ? 'audit-since-error' : undefined}
          title="A date, or a date and time (your local time unless it ends in Z or an offset)"
        />
      </label>
      <button type="submit" class="primary">
        Apply
      </button>
      {anyFilter && (
        <button
          type="button"
          onClick={() => {
            setDraft(NO_FILTERS);
            submit(NO_FILTERS, false);
          }}
        >
          Clear filters
        </button>
      )}
      {sinceError && (
        <p class="error" id="audit-since-error" role="alert">
          Since: write a date (2026-11-01) or a date and time (2026-11-01T09:30, 2026-11-01T09:30:00Z).
        </p>
      )}
    </form>
  );
}

/** One free-text filter of the audit form. */
function TextFilter({
  label,
  value,
  onInput,
  placeholder,
  title,
}: {
  label: string;
  value: string;
  onInput: (e: Parameters<typeof valueOf>[0]) => void;
  placeholder: string;
  title: string;
}) {
  return (
    <label>
      {label}
      <input
        value={value}
        onInput={onInput}
        placeholder={placeholder}
        autocomplete="off"
        spellcheck={false}
        title={title}
      />
    </label>
  );
}

function outcomeClass(outcome: string): string {
  switch (outcome) {
    case 'success':
      return 'badge ok';
    case 'failure':
      return 'badge warn';
    default:
      return 'badge bad';
  }
}

function Stamp({ iso }: { iso: string }) {
  const date = new Date(iso);
  // An audit trail wants the exact time, not "3 hours ago"; the ISO form is on hover.
  return (
    <time dateTime={iso} title={iso}>
      {Number.isNaN(date.getTime()) ? iso : date.toLocaleString()}
    </time>
  );
}

function AuditTable({ entries, applied }: { entries: AuditEntry[]; applied: Filters }) {
  const [open, setOpen] = useState<ReadonlySet<number>>(new Set());
  const toggle = (seq: number) =>
    setOpen((s) => {
      const next = new Set(s);
      if (next.has(seq)) next.delete(seq);
      else next.add(seq);
      return next;
    });
  return (
    <table>
      <TableHead columns={['Time', 'Actor', 'Action', 'Resource', 'Outcome', 'Source IP']} actions />
      {entries.map((e) => {
        const expanded = open.has(e.seq);
        const detailsId = `audit-entry-${e.seq}`;
        return (
          // One body per entry keeps an entry and its details together for a screen reader's table navigation.
          <tbody key={e.seq}>
            <tr>
              <th scope="row">
                <Stamp iso={e.time} />
              </th>
              <td>
                <a href={hrefOf({ ...applied, actor: e.actor })} title={`Only entries by ${e.actor}`}>
                  {e.actor}
                </a>
              </td>
              <td>
                <a href={hrefOf({ ...applied, action: e.action })} title={`Only ${e.action} entries`}>
                  <code>{e.action}</code>
                </a>
              </td>
              <td>
                <code>{e.resource}</code>
              </td>
              <td>
                <span class={outcomeClass(e.outcome)}>{e.outcome}</span>
              </td>
              <td class="mono">{e.sourceIp}</td>
              <td class="row-actions">
                <button
                  type="button"
                  class="small"
                  aria-expanded={expanded}
                  aria-controls={expanded ? detailsId : undefined}
                  onClick={() => toggle(e.seq)}
                >
                  Details
                </button>
              </td>
            </tr>
            {expanded && (
              <tr id={detailsId}>
                <td colSpan={7}>
                  <EntryDetails entry={e} />
                </td>
              </tr>
            )}
          </tbody>
        );
      })}
    </table>
  );
}

function EntryDetails({ entry }: { entry: AuditEntry }) {
  const empty =
    entry.details === null ||
    entry.details === undefined ||
    (typeof entry.details === 'object' && Object.keys(entry.details).length === 0);
  return (
    <div>
      <p>
        Entry <strong>#{entry.seq}</strong> · request id <code>{entry.requestId === '' ? '—' : entry.requestId}</code> ·
        actor type {entry.actorType}
      </p>
      <p>
        User agent: <code>{entry.userAgent === '' ? '—' : entry.userAgent}</code>
      </p>
      {empty ? <p class="muted">No details recorded.</p> : <pre>{JSON.stringify(entry.details, null, 2)}</pre>}
    </div>
  );
}

/** Recomputes the whole chain on the server; optionally against a head anchored elsewhere earlier. */
function useVerify() {
  const [result, setResult] = useState<VerifyResult | undefined>();
  const [anchorSeq, setAnchorSeq] = useState('');
  const [anchorMac, setAnchorMac] = useState('');
  const action = useAction(async () => {
    setResult(undefined);
    const seq = anchorSeq.trim();
    const mac = anchorMac.trim().toLowerCase();
    if ((seq === '') !== (mac === '')) {
      throw new ApiError(
        400,
        'INVALID_INPUT',
        'an anchored head needs both its entry number and its MAC',
        undefined,
        undefined,
      );
    }
    if (seq !== '' && (!/^\d+$/.test(seq) || !/^[0-9a-f]{64}$/.test(mac))) {
      throw new ApiError(
        400,
        'INVALID_INPUT',
        'an anchored head is an entry number and a MAC of 64 hex digits',
        undefined,
        undefined,
      );
    }
    setResult(
      await api<VerifyResult>('GET', '/audit/verify', {
        query: seq === '' ? {} : { expectSeq: seq, expectMac: mac },
      }),
    );
  });
  return { ...action, result, anchorSeq, setAnchorSeq, anchorMac, setAnchorMac };
}

function VerifyPanel({ verify }: { verify: ReturnType<typeof useVerify> }) {
  return (
    <div>
      <details class="hint">
        <summary>Verify against a head you anchored elsewhere</summary>
        <p>
          A head noted earlier (from here or <code>keybox audit verify --json</code>) proves that entry is still there,
          unchanged, with everything before it — and catches a cut-off tail. Fill both, then Verify chain.
        </p>
        <div class="filters">
          <label>
            Head entry
            <input
              inputMode="numeric"
              value={verify.anchorSeq}
              onInput={(e) => verify.setAnchorSeq(valueOf(e))}
              autocomplete="off"
            />
          </label>
          <label>
            Head MAC
            <input
              class="mono"
              value={verify.anchorMac}
              onInput={(e) => verify.setAnchorMac(valueOf(e))}
              autocomplete="off"
              spellcheck={false}
            />
          </label>
        </div>
      </details>
      {verify.busy && (
        <p class="muted" aria-busy="true">
          Verifying the whole chain (every entry is read again)…
        </p>
      )}
      <ErrorNote error={verify.error} />
      {verify.result !== undefined && <VerifyOutcome result={verify.result} />}
    </div>
  );
}

function VerifyOutcome({ result }: { result: VerifyResult }) {
  const head = (
    <p>
      Head: entry <strong>#{result.head.seq}</strong>, MAC <code class="mono">{result.head.mac}</code>
      <br />
      <span class="muted">
        Keep this head somewhere else; later, <code>keybox audit verify --expect {result.head.seq}:…</code> (or the
        fields above) proves nothing up to it was changed or removed.
      </span>
    </p>
  );
  if (result.ok) {
    return (
      <div class="notice" role="status">
        <p>
          <span class="badge ok">chain intact</span> {result.count} {result.count === 1 ? 'entry' : 'entries'} verified,
          every MAC and names list matches.
        </p>
        {head}
      </div>
    );
  }
  return (
    <div class="error" role="alert">
      <p>
        <span class="badge bad">chain broken</span> {result.count} {result.count === 1 ? 'entry' : 'entries'} read;{' '}
        {result.problems.length} {result.problems.length === 1 ? 'problem' : 'problems'}:
      </p>
      <ul>
        {result.problems.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
      {head}
    </div>
  );
}
