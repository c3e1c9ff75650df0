import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import type { AuditLog } from '../../core/audit/audit-log.js';
import type { BackupService } from '../../core/backup/backup-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { authorize } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';

export interface BackupRouteDeps {
  backups: BackupService;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

/**
 * `POST /api/v1/sys/backup` (admin): a consistent copy of the store as a SQLite file, in the response body. What it
 * holds is encrypted as at rest; the root key is not in it. The copy's SHA-256, size and last audit entry come in
 * headers, so the client can check what it received.
 */
export function backupRoutes(deps: BackupRouteDeps) {
  const app = new Hono<HttpEnv>();
  app.post('/backup', async (c) => {
    auditAs(c, 'backup.create', 'backup');
    authorize(c, { capability: 'admin' });
    const made = await deps.backups.create(c.get('principal').actor, txAudit(c, deps.auditLog));
    const stamp = made.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    c.header('content-type', 'application/vnd.sqlite3');
    c.header('content-length', String(made.bytes));
    c.header('content-disposition', `attachment; filename="keybox-backup-${stamp}.db"`);
    c.header('cache-control', 'no-store');
    c.header('x-keybox-backup-sha256', made.sha256);
    c.header('x-keybox-backup-created-at', made.createdAt);
    c.header('x-keybox-backup-audit-seq', String(made.auditSeq));
    c.header('x-keybox-root-key-id', made.rootKeyId);
    // The copy's name is gone already: the descriptor is all there is, and closing it frees the space.
    const body = Readable.toWeb(createReadStream('', { fd: made.fd, autoClose: true })) as ReadableStream<Uint8Array>;
    return c.body(body, 200);
  });
  return app;
}
