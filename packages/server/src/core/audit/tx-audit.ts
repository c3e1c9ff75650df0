import type { Db } from '../store/database.js';

/**
 * Called by a service inside the transaction of a change, with the change's details (names, versions, never
 * values). The HTTP layer passes one that appends the audit entry to the same transaction, so the change and its
 * entry are committed together or not at all.
 */
export type TxAudit = (trx: Db, details?: Record<string, unknown>) => Promise<AfterCommit | void>;

/** Run once the transaction has committed (e.g. streaming the entry to the SIEM file). */
export type AfterCommit = () => void;

/** Runs `work` in a transaction and records it with `audit` (if given) before the commit. */
export function audited<T>(
  db: Db,
  audit: TxAudit | undefined,
  work: (trx: Db) => Promise<T>,
  details?: (result: T) => Record<string, unknown>,
): Promise<T> {
  let after: AfterCommit | void = undefined;
  return db
    .transaction()
    .execute(async (trx) => {
      const result = await work(trx);
      if (audit !== undefined) after = await audit(trx, details?.(result));
      return result;
    })
    .then((result) => {
      after?.();
      return result;
    });
}
