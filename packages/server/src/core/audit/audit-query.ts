import { sql } from 'kysely';
import type { Db } from '../store/database.js';
import { fromRow, type AuditFields } from './audit-chain.js';
import { expandNames, loadNamesLists, referencedHashes } from './audit-names.js';

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  /** A folder path: entries whose resource is that folder or lies below it (`shop/dev:/backend...`). */
  path?: string | undefined;
  outcome?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  /** Entries before this sequence number (paging backwards). */
  before?: number | undefined;
  limit?: number | undefined;
}

/** An entry as listed: the chained fields, with `details` parsed back from its stored JSON. */
export type AuditListEntry = Omit<AuditFields, 'details'> & { details: unknown };

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

/**
 * `column LIKE pattern ESCAPE '\'`, with the escape said out loud: PostgreSQL escapes with a backslash by default,
 * SQLite has no escape character unless told (so `\_` matched a backslash, and a path with `_` matched nothing).
 */
function like(column: 'action' | 'resource', pattern: string) {
  return sql<boolean>`${sql.ref(column)} like ${pattern} escape '\\'`;
}

/** Newest first. `action` matches exactly or as a prefix ending in a dot (`secrets` matches `secrets.read`). */
export async function listAudit(db: Db, filter: AuditFilter): Promise<AuditListEntry[]> {
  let query = db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(Math.min(filter.limit ?? 100, 1000));
  if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
  if (filter.action !== undefined) {
    const action = filter.action;
    query = query.where((eb) => eb.or([eb('action', '=', action), like('action', `${escapeLike(action)}.%`)]));
  }
  if (filter.outcome !== undefined) query = query.where('outcome', '=', filter.outcome);
  if (filter.path !== undefined) {
    const path = filter.path === '/' ? '' : filter.path;
    query = query.where((eb) =>
      eb.or([
        like('resource', `%:${escapeLike(path)}`),
        like('resource', `%:${escapeLike(path)}/%`),
        like('resource', `%:${escapeLike(path)}#%`),
        like('resource', `%:${escapeLike(path)},%`),
        like('resource', `%:${escapeLike(path)} %`),
      ]),
    );
  }
  if (filter.since !== undefined) query = query.where('time', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('time', '<=', filter.until);
  if (filter.before !== undefined) query = query.where('seq', '<', filter.before);
  const rows = await query.execute();
  // The name lists bulk reads refer to by hash, written out (see audit-names.ts).
  const lists = await loadNamesLists(
    db,
    rows.flatMap((r) => referencedHashes(r.details)),
  );
  return rows.map((r) => ({ ...fromRow(r), details: expandNames(parseDetails(r.details), (hash) => lists.get(hash)) }));
}

/** Stored details as JSON; text edited into something else is listed as such (verify reports the entry). */
function parseDetails(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { unreadable: true };
  }
}
