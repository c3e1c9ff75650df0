import type { Db } from '../store/database.js';
import { durableCommit } from '../store/store.js';

/**
 * Called by a service inside the transaction of a change, with the change's details (names, versions, never
 * values). The HTTP layer passes one that appends the audit entry to the same transaction, so the change and its
 * entry are committed together or not at all.
 */
export type TxAudit = (trx: Db, details?: Record<string, unknown>) => Promise<AfterCommit | void>;

/**
 * The hook for a change whose actor the service learns only on the way (a login: who it is once the credentials
 * check out). The service passes `audit(actor)` to `audited`; the entry is made out to the actor only when it is
 * recorded, after the change's work succeeded (a login refused on the way stays anonymous, like any failed one).
 */
export type TxAuditAs = (actor: { type: 'user' | 'identity'; name: string }) => TxAudit;

/**
 * Run once the transaction has committed, with a promise of it being on disk (the audit log streams the entries at
 * once, in commit order, and moves its head file only once they are durable).
 */
export type AfterCommit = (durable: Promise<void>) => void;

/**
 * Runs `work` in one transaction and records it with `audit` (if given) before the commit. Resolves once the
 * change is on disk: with the store's durable commit (registered for `db`, see store/store.ts) the disk
 * sync runs off the event loop after the connection is released, so concurrent writers share syncs.
 */
export async function audited<T>(
  db: Db,
  audit: TxAudit | undefined,
  work: (trx: Db) => Promise<T>,
  details?: (result: T) => Record<string, unknown>,
): Promise<T> {
  const hook: { after?: AfterCommit | void } = {};
  const { result, durable } = await durableCommit(db)(
    async (trx) => {
      const done = await work(trx);
      if (audit !== undefined) hook.after = await audit(trx, details?.(done));
      return done;
    },
    // At the commit, before any other commit of the store: the audit log publishes entries in the chain's order.
    (_, committed) => hook.after?.(committed),
  );
  await durable;
  return result;
}
