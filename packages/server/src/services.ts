import { createAuditLog, readHead } from './core/audit/audit-log.js';
import { listAudit } from './core/audit/audit-query.js';
import { verifyAuditChain } from './core/audit/audit-verify.js';
import { createBackupService } from './core/backup/backup-service.js';
import { createIdentityService } from './core/auth/identity-service.js';
import { createTokenService } from './core/auth/token-service.js';
import { createUserService } from './core/auth/user-service.js';
import type { Clock } from './core/clock.js';
import type { Keyring } from './core/crypto/keyring.js';
import { createManifestService } from './core/manifests/manifest-service.js';
import { createPolicyService } from './core/policy/policy-service.js';
import { createProjectService } from './core/projects/project-service.js';
import { createChangeFeed } from './core/secrets/change-feed.js';
import { createSecretService } from './core/secrets/secret-service.js';
import type { Db } from './core/store/database.js';
import type { SqlDialect } from './core/store/migrations.js';
import type { StoreChanges } from './core/store/store-changes.js';
import { serverStatus, type ServerStatus } from './core/status/server-status.js';

export interface ServicesDeps {
  /** For /api/secrets/status. */
  version?: string;
  startedAt?: Date;
  db: Db;
  dialect: SqlDialect;
  /** From the store: lets the token and bulk-read paths reuse what they read until something changes. */
  storeChanges?: StoreChanges | undefined;
  /** From a store shared by several servers: tells of folders other servers changed, to wake watchers here. */
  onFolderChanged?: ((listener: (folderId: string) => void) => () => void) | undefined;
  keyring: Keyring;
  clock: Clock;
  /** `DATA_DIR/audit.head`. */
  auditHeadFile?: string | undefined;
  auditSink?: ((line: string) => void) | undefined;
  /** Told when the audit sink fails (the entries are stored all the same). */
  onAuditSinkError?: ((error: unknown) => void) | undefined;
  /** The store's snapshot and the data dir it is made in: backups through the API. */
  snapshot?: ((file: string) => Promise<void>) | undefined;
  dataDir?: string | undefined;
}

/** Wires every core service over one store (used by main.ts and by the tests, so both run the same graph). */
export function createServices({
  db,
  dialect,
  storeChanges,
  onFolderChanged,
  keyring,
  clock,
  auditHeadFile,
  auditSink,
  onAuditSinkError,
  snapshot,
  dataDir,
  version = '0.0.0',
  startedAt = clock.now(),
}: ServicesDeps) {
  const policies = createPolicyService({ db, clock });
  const tokens = createTokenService({ db, keyring, clock, policies, storeChanges });
  const users = createUserService({ db, clock, tokens, policies });
  const identities = createIdentityService({ db, clock, keyring, tokens, policies });
  const projects = createProjectService({ db, clock });
  const changes = createChangeFeed();
  const secrets = createSecretService({ db, keyring, clock, changes, storeChanges });
  // A folder changed through another server: wake the watchers of its scope here (they compare ETags again, so a
  // change this server made itself, heard of twice, costs one more comparison).
  onFolderChanged?.((folderId) => {
    if (changes.size === 0) return;
    db.selectFrom('folders')
      .innerJoin('environments', 'environments.id', 'folders.environment_id')
      .innerJoin('projects', 'projects.id', 'environments.project_id')
      .select(['projects.slug as project', 'environments.slug as env', 'folders.path as path'])
      .where('folders.id', '=', folderId)
      .executeTakeFirst()
      .then(
        (change) => {
          if (change !== undefined) changes.publish(change);
        },
        () => undefined, // the watchers still answer at their timeout
      );
  });
  const auditLog = createAuditLog({
    db,
    dialect,
    key: keyring.auditKey,
    clock,
    headFile: auditHeadFile,
    sink: auditSink,
    onSinkError: onAuditSinkError,
  });
  const audit = {
    listAudit: (filter: Parameters<typeof listAudit>[1]) => listAudit(db, filter),
    // The head file is written just after each commit; let it catch up before comparing.
    verifyAudit: async (expect?: { seq: number; mac: string }) => {
      await auditLog.headWritten();
      return verifyAuditChain(db, keyring.auditKey, { headFile: auditHeadFile, expect });
    },
  };
  const manifests = createManifestService({ db, clock });
  const backups = createBackupService({ db, snapshot, dataDir, rootKeyId: keyring.rootKeyId, clock });
  // The status endpoint answers without a token, so one answer serves every caller for a second: a monitor storm
  // costs one set of count queries a second, not one per request.
  let lastStatus: { at: number; answer: Promise<ServerStatus> } | undefined;
  const status = (): Promise<ServerStatus> => {
    const now = clock.now().getTime();
    if (lastStatus !== undefined && now - lastStatus.at >= 0 && now - lastStatus.at < 1000) return lastStatus.answer;
    const answer = serverStatus({
      db,
      dialect,
      version,
      rootKeyId: keyring.rootKeyId,
      lastBackup: backups.last,
      lastRotation: async () => {
        const row = await db.selectFrom('meta').select('value').where('key', '=', 'rotation.last').executeTakeFirst();
        return row === undefined ? undefined : (JSON.parse(row.value) as { at: string; kind: string });
      },
      startedAt,
      now: () => clock.now(),
      readHeadFile: async () => {
        if (auditHeadFile === undefined) return undefined;
        await auditLog.headWritten();
        return readHead(auditHeadFile);
      },
    });
    lastStatus = { at: now, answer };
    return answer;
  };
  return {
    policies,
    tokens,
    users,
    identities,
    projects,
    secrets,
    changes,
    auditLog,
    audit,
    manifests,
    backups,
    status,
  };
}

export type Services = ReturnType<typeof createServices>;
