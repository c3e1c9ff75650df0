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

/**
 * Copies every row of `from` (SQLite) into `to`, which must hold no row at all. Checks afterwards that every table
 * has as many rows on both sides and that the audit chain's head is the same, inside the target's transaction: a
 * copy that does not check out is rolled back.
 */
export async function copySqliteToPostgres(
  from: Store,
  to: Store,
  onProgress: (progress: CopyProgress) => void = () => undefined,
): Promise<CopyResult> {
  if (from.dialect !== 'sqlite' || to.dialect !== 'postgres') {
    throw new AppError('INVALID_INPUT', 'a store is copied from SQLite to PostgreSQL');
  }
  const occupied = [...(await counts(to.db))].filter(([, n]) => n > 0);
  if (occupied.length > 0) {
    throw new AppError(
      'CONFLICT',
      `the target database is not empty (${occupied.map(([t, n]) => `${t}: ${n}`).join(', ')}); migrate into an empty database`,
    );
  }
  return from.db.transaction().execute(async (source) => {
    const totals = await counts(source);
    return to.db.transaction().execute(async (target) => {
      const tables: CopyResult['tables'] = [];
      for (const table of STORE_TABLES) {
        const total = totals.get(table) ?? 0;
        let copied = 0;
        onProgress({ table, copied, total });
        // Paged by rowid (every table is a rowid table): the source need not fit in memory.
        for (let after = Number.MIN_SAFE_INTEGER; ;) {
          const { rows } = await sql<Record<string, unknown> & { _rowid: number }>`
            select rowid as _rowid, * from ${sql.table(table)}
            where rowid > ${after} order by rowid limit ${PAGE_ROWS}`.execute(source);
          if (rows.length === 0) break;
          after = rows[rows.length - 1]!._rowid;
          const values = rows.map(({ _rowid: _, ...row }) => row);
          const columns = Object.keys(values[0]!).length;
          const chunk = Math.max(1, Math.floor(PARAMETERS_MAX / columns));
          for (let at = 0; at < values.length; at += chunk) {
            // Column for column as read: the two schemas are the same migrations.
            await target
              .insertInto(table)
              .values(values.slice(at, at + chunk))
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
    });
  });
}
