import { sql, type Kysely } from 'kysely';
import { AppError } from '../app-error.js';
import type { Database } from './database.js';
import type { Store } from './store.js';

/*
 * `keybox server migrate`: the embedded SQLite store copied into an empty PostgreSQL database, for a team that
 * outgrew one server. Both stores have the same schema (the same migrations), so the copy is table by table, row for
 * row, ciphertext as it is: nothing is decrypted, and the same root key opens the copy. The source is read in one
 * transaction (a consistent snapshot), the target written in one (all or nothing).
 */

/** Every table, parents before the rows that reference them. */
export const STORE_TABLES = [
  'meta',
  'data_keys',
  'projects',
  'environments',
  'folders',
  'folder_revisions',
  'secrets',
  'secret_versions',
  'policies',
  'users',
  'identities',
  'identity_secrets',
  'api_tokens',
  'policy_attachments',
  'manifests',
  'audit_names',
  'audit_log',
  'audit_head',
] as const satisfies readonly (keyof Database)[];

export type StoreTable = (typeof STORE_TABLES)[number];

/** Rows read from the source per round. */
const PAGE_ROWS = 2000;
/** PostgreSQL takes at most 65,535 parameters in one statement. */
const PARAMETERS_MAX = 30_000;

export interface CopyProgress {
  table: StoreTable;
  copied: number;
  total: number;
}

export interface CopyResult {
  tables: { table: StoreTable; rows: number }[];
  rows: number;
}

async function counts(db: Kysely<Database>): Promise<Map<StoreTable, number>> {
  const result = new Map<StoreTable, number>();
  for (const table of STORE_TABLES) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    result.set(table, Number(row.n));
  }
  return result;
}

/** One page of a table's rows after `after` (undefined: from the start), and where the next page starts. */
type PageReader = (
  table: StoreTable,
  after: string | number | undefined,
) => Promise<{ rows: Record<string, unknown>[]; last: string | number | undefined }>;

/**
 * Copies every row through `readPage` into `target` (in its transaction), then checks that every table has as many
 * rows on both sides and that the audit chain's head is the same: a copy that does not check out throws, and the
 * caller's transaction rolls it back.
 */
async function copyRows(
  source: Kysely<Database>,
  target: Kysely<Database>,
  readPage: PageReader,
  onProgress: (progress: CopyProgress) => void,
): Promise<CopyResult> {
  const totals = await counts(source);
  const tables: CopyResult['tables'] = [];
  for (const table of STORE_TABLES) {
    const total = totals.get(table) ?? 0;
    let copied = 0;
    onProgress({ table, copied, total });
    // Paged: the source need not fit in memory.
    for (let after: string | number | undefined; ;) {
      const { rows, last } = await readPage(table, after);
      if (rows.length === 0) break;
      after = last;
      const columns = Object.keys(rows[0]!).length;
      const chunk = Math.max(1, Math.floor(PARAMETERS_MAX / columns));
      for (let at = 0; at < rows.length; at += chunk) {
        // Column for column as read: the two schemas are the same migrations.
        await target
          .insertInto(table)
          .values(rows.slice(at, at + chunk))
          .execute();
      }
      copied += rows.length;
      onProgress({ table, copied, total });
    }
    tables.push({ table, rows: copied });
  }
  const copiedCounts = await counts(target);
  for (const table of STORE_TABLES) {
    if (copiedCounts.get(table) !== totals.get(table)) {
      throw new AppError(
        'INTERNAL',
        `the copy of ${table} has ${copiedCounts.get(table)} rows, the source ${totals.get(table)}: nothing was kept`,
      );
    }
  }
  const head = (db: Kysely<Database>) =>
    db.selectFrom('audit_head').select(['seq', 'mac']).where('id', '=', 1).executeTakeFirst();
  const [sourceHead, targetHead] = await Promise.all([head(source), head(target)]);
  if (sourceHead?.seq !== targetHead?.seq || sourceHead?.mac !== targetHead?.mac) {
    throw new AppError('INTERNAL', 'the copied audit chain does not end where the source does: nothing was kept');
  }
  return { tables, rows: tables.reduce((n, t) => n + t.rows, 0) };
}

async function refuseOccupied(to: Store, what: string): Promise<void> {
  const occupied = [...(await counts(to.db))].filter(([, n]) => n > 0);
  if (occupied.length > 0) {
    throw new AppError(
      'CONFLICT',
      `the target database is not empty (${occupied.map(([t, n]) => `${t}: ${n}`).join(', ')}); ${what} into an empty database`,
    );
  }
}

/**
 * Copies every row of `from` (SQLite) into `to`, which must hold no row at all, in one transaction on each side:
 * a consistent snapshot, all or nothing.
 */
export async function copySqliteToPostgres(
  from: Store,
  to: Store,
  onProgress: (progress: CopyProgress) => void = () => undefined,
): Promise<CopyResult> {
  if (from.dialect !== 'sqlite' || to.dialect !== 'postgres') {
    throw new AppError('INVALID_INPUT', 'a store is copied from SQLite to PostgreSQL');
  }
  await refuseOccupied(to, 'migrate');
  return from.db.transaction().execute(async (source) =>
    to.db.transaction().execute(async (target) =>
      copyRows(
        source,
        target,
        // By rowid: every table is a rowid table.
        async (table, after) => {
          const { rows } = await sql<Record<string, unknown> & { _rowid: number }>`
            select rowid as _rowid, * from ${sql.table(table)}
            where rowid > ${after ?? Number.MIN_SAFE_INTEGER} order by rowid limit ${PAGE_ROWS}`.execute(source);
          return { rows: rows.map(({ _rowid: _, ...row }) => row), last: rows.at(-1)?._rowid };
        },
        onProgress,
      ),
    ),
  );
}

/**
 * The other way, for a backup of a PostgreSQL store: every row of `from` into `to` (an empty SQLite store). The
 * source is read in one read-only REPEATABLE READ transaction (one snapshot, and no writer is held up: a read-only
 * transaction takes no writer lock, see postgres-store.ts).
 */
export async function copyPostgresToSqlite(
  from: Store,
  to: Store,
  onProgress: (progress: CopyProgress) => void = () => undefined,
): Promise<CopyResult> {
  if (from.dialect !== 'postgres' || to.dialect !== 'sqlite') {
    throw new AppError('INVALID_INPUT', 'a backup copy goes from PostgreSQL to SQLite');
  }
  await refuseOccupied(to, 'copy');
  return from.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute(async (source) =>
      to.db.transaction().execute(async (target) =>
        copyRows(
          source,
          target,
          // By physical position: stable within the one snapshot the transaction reads.
          async (table, after) => {
            const { rows } = await sql<Record<string, unknown> & { _ctid: string }>`
              select ctid::text as _ctid, * from ${sql.table(table)}
              where ctid > ${after ?? '(0,0)'}::tid order by ctid limit ${PAGE_ROWS}`.execute(source);
            return { rows: rows.map(({ _ctid: _, ...row }) => row), last: rows.at(-1)?._ctid };
          },
          onProgress,
        ),
      ),
    );
}
