import type { KeyObject } from 'node:crypto';
import type { Db } from '../store/database.js';
import { chainMac, fromRow, genesisMac, sameMac } from './audit-chain.js';
import { hashNames, loadNamesLists, referencedHashes } from './audit-names.js';
import { readHead, type AuditHead } from './audit-log.js';

export interface VerifyResult {
  ok: boolean;
  count: number;
  /** The head to anchor externally (print it, store it elsewhere, compare later with `expect`). */
  head: AuditHead;
  problems: string[];
}

/**
 * Recomputes the whole chain. Finds an edited, deleted, inserted or reordered entry (the mac or the sequence
 * breaks), a chain recomputed without the key (the first mac is wrong), and a cut-off tail (the head row, the
 * head file or an externally anchored head points past the end or at another mac).
 */
export async function verifyAuditChain(
  db: Db,
  key: KeyObject,
  options: { headFile?: string | undefined; expect?: AuditHead | undefined } = {},
): Promise<VerifyResult> {
  const problems: string[] = [];
  const anchors: [string, AuditHead | undefined][] = [
    ['the head file', options.headFile === undefined ? undefined : readHead(options.headFile)],
    ['the expected head', options.expect],
  ];
  // Only the macs the anchors point at are kept (and one hash per distinct names list), so memory stays small.
  const wanted = new Set(anchors.flatMap(([, a]) => (a === undefined ? [] : [a.seq])));
  const macs = new Map<number, string>();
  /** Name lists referred to, with the first entry that does. */
  const lists = new Map<string, number>();
  let expectedSeq = 1;
  let previous = genesisMac(key);
  let count = 0;
  let brokenAt: number | undefined;
  const page = 2000;
  for (let after = 0; ;) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(page)
      .execute();
    for (const row of rows) {
      count += 1;
      if (row.seq !== expectedSeq && brokenAt === undefined) {
        problems.push(`entry ${expectedSeq} is missing (next entry is ${row.seq})`);
        brokenAt = expectedSeq;
      }
      const fields = fromRow(row);
      const mac = chainMac(key, previous, fields);
      if (!sameMac(mac, row.mac) && brokenAt === undefined) {
        problems.push(`entry ${row.seq} does not match the chain (edited, moved, or written without the key)`);
        brokenAt = row.seq;
      }
      if (wanted.has(row.seq)) macs.set(row.seq, row.mac);
      for (const hash of referencedHashes(row.details)) if (!lists.has(hash)) lists.set(hash, row.seq);
      previous = row.mac;
      expectedSeq = row.seq + 1;
    }
    if (rows.length < page) break;
    after = rows[rows.length - 1]?.seq ?? after;
  }
  // Every name list an entry refers to must be there, and be what its hash says.
  const found = await loadNamesLists(db, lists.keys());
  for (const [hash, seq] of lists) {
    const names = found.get(hash);
    const problem = names === undefined ? 'is missing' : hashNames(names) !== hash ? 'was altered' : undefined;
    if (problem !== undefined) problems.push(`entry ${seq} refers to a names list (sha256 ${hash}) that ${problem}`);
  }
  const lastSeq = expectedSeq - 1;
  const head: AuditHead = { seq: lastSeq, mac: lastSeq === 0 ? genesisMac(key) : previous };

  const stored = await db.selectFrom('audit_head').select(['seq', 'mac']).where('id', '=', 1).executeTakeFirst();
  if (stored !== undefined && (stored.seq !== lastSeq || !sameMac(stored.mac, head.mac))) {
    problems.push(`the head row says entry ${stored.seq} but the chain ends at ${lastSeq}`);
  }
  if (options.headFile !== undefined && lastSeq > 0 && anchors[0]?.[1] === undefined) {
    problems.push('the head file is missing: a cut-off tail could not be detected');
  }
  for (const [label, anchor] of anchors) {
    if (anchor === undefined) continue;
    if (anchor.seq < 0) {
      problems.push(`${label} is unreadable`);
    } else if (anchor.seq > lastSeq) {
      problems.push(`${label} records entry ${anchor.seq}, but the chain ends at ${lastSeq}: entries were removed`);
    } else if (anchor.seq > 0 && !sameMac(macs.get(anchor.seq) ?? '', anchor.mac)) {
      problems.push(`${label} does not match entry ${anchor.seq}: the chain was rewritten`);
    }
  }
  return { ok: problems.length === 0, count, head, problems };
}
