import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Database } from './database.js';
import { ACCESS, TABLE_AREAS } from './store-changes.js';

export type SqlDialect = 'sqlite' | 'postgres';

/*
 * Versioned migrations, applied in name order at start-up inside Kysely's migration lock. Append new ones;
 * never edit a released migration. (0001-0006 got their PostgreSQL column types, `text collate "C"` and a bigint
 * audit sequence, before any PostgreSQL store existed; the DDL they give SQLite is unchanged.)
 */
function migrations(dialect: SqlDialect): Record<string, Migration> {
  const postgres = dialect === 'postgres';
  const binary = postgres ? 'bytea' : 'blob';
  // Text compares and sorts by bytes on both stores (SQLite's BINARY collation; "C" on PostgreSQL, whatever locale
  // the database was created with), so listings come out in the same order and `<` means the same.
  const text = postgres ? sql`text collate "C"` : 'text';
  // The audit sequence grows with every request: 64-bit on PostgreSQL (SQLite's integer already is; an
  // `integer primary key` must stay exactly that there, as the rowid).
  const sequence = postgres ? 'bigint' : 'integer';
  return {
    '0001-initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('meta')
          .addColumn('key', text, (c) => c.primaryKey())
          .addColumn('value', text, (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('data_keys')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('purpose', text, (c) => c.notNull())
          .addColumn('wrapped', binary, (c) => c.notNull())
          .addColumn('root_key_id', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('retired_at', text)
          .execute();

        await db.schema
          .createTable('projects')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('slug', text, (c) => c.notNull().unique())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('environments')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('project_id', text, (c) => c.notNull().references('projects.id').onDelete('cascade'))
          .addColumn('slug', text, (c) => c.notNull())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addUniqueConstraint('environments_project_slug', ['project_id', 'slug'])
          .execute();

        await db.schema
          .createTable('folders')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('environment_id', text, (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('path', text, (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('bundle', binary)
          .addColumn('bundle_key_id', 'integer')
          .addColumn('secret_count', 'integer', (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .addUniqueConstraint('folders_environment_path', ['environment_id', 'path'])
          .execute();

        await db.schema
          .createTable('folder_revisions')
          .addColumn('folder_id', text, (c) => c.notNull().references('folders.id').onDelete('cascade'))
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('action', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addPrimaryKeyConstraint('folder_revisions_pk', ['folder_id', 'revision'])
          .execute();

        await db.schema
          .createTable('secrets')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('folder_id', text, (c) => c.notNull().references('folders.id').onDelete('cascade'))
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('deleted_at', text)
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .addColumn('updated_by', text, (c) => c.notNull())
          .addUniqueConstraint('secrets_folder_name', ['folder_id', 'name'])
          .execute();

        await db.schema
          .createTable('secret_versions')
          .addColumn('secret_id', text, (c) => c.notNull().references('secrets.id').onDelete('cascade'))
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('op', text, (c) => c.notNull())
          .addColumn('value', binary)
          .addColumn('key_id', 'integer')
          .addColumn('folder_revision', 'integer', (c) => c.notNull())
          .addColumn('restored_from', 'integer')
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addColumn('destroyed_at', text)
          .addColumn('destroyed_by', text)
          .addPrimaryKeyConstraint('secret_versions_pk', ['secret_id', 'version'])
          .execute();

        await db.schema
          .createTable('api_tokens')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('hash', text, (c) => c.notNull())
          .addColumn('kind', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addColumn('expires_at', text)
          .addColumn('last_used_at', text)
          .addColumn('revoked_at', text)
          .execute();
      },
    },
    '0002-identities-policies-audit': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('name', text, (c) => c.notNull().unique())
          .addColumn('password_hash', text, (c) => c.notNull())
          .addColumn('is_admin', 'integer', (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addColumn('disabled_at', text)
          .addColumn('last_login_at', text)
          .execute();

        await db.schema
          .createTable('identities')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('name', text, (c) => c.notNull().unique())
          .addColumn('description', text, (c) => c.notNull())
          .addColumn('token_ttl', 'integer', (c) => c.notNull())
          .addColumn('token_max_ttl', 'integer', (c) => c.notNull())
          .addColumn('token_uses', 'integer', (c) => c.notNull())
          .addColumn('trusted_cidrs', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addColumn('disabled_at', text)
          .execute();

        await db.schema
          .createTable('identity_secrets')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('identity_id', text, (c) => c.notNull().references('identities.id').onDelete('cascade'))
          .addColumn('hash', text, (c) => c.notNull())
          .addColumn('description', text, (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('created_by', text, (c) => c.notNull())
          .addColumn('expires_at', text)
          .addColumn('last_used_at', text)
          .addColumn('revoked_at', text)
          .execute();

        await db.schema
          .createTable('policies')
          .addColumn('name', text, (c) => c.primaryKey())
          .addColumn('description', text, (c) => c.notNull())
          .addColumn('rules', text, (c) => c.notNull())
          .addColumn('builtin', 'integer', (c) => c.notNull())
          .addColumn('created_at', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .addColumn('updated_by', text, (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('policy_attachments')
          .addColumn('principal_type', text, (c) => c.notNull())
          .addColumn('principal_id', text, (c) => c.notNull())
          .addColumn('policy_name', text, (c) => c.notNull().references('policies.name').onDelete('cascade'))
          .addPrimaryKeyConstraint('policy_attachments_pk', ['principal_type', 'principal_id', 'policy_name'])
          .execute();

        // Tokens of every kind: static API tokens, user sessions, identities' access tokens.
        await db.schema.alterTable('api_tokens').addColumn('principal_type', text).execute();
        await db.schema.alterTable('api_tokens').addColumn('principal_id', text).execute();
        await db.schema.alterTable('api_tokens').addColumn('max_expires_at', text).execute();
        await db.schema.alterTable('api_tokens').addColumn('uses_remaining', 'integer').execute();
        await db.schema.alterTable('api_tokens').addColumn('last_ip', text).execute();
        await db.schema.alterTable('api_tokens').addColumn('secret_id', text).execute();
        await db.schema
          .createIndex('api_tokens_principal')
          .on('api_tokens')
          .columns(['principal_type', 'principal_id'])
          .execute();

        // Plain-text index of a folder's live names and versions (no values): what a bulk read audits.
        await db.schema.alterTable('folders').addColumn('names', text).execute();

        await db.schema
          .createTable('audit_log')
          .addColumn('seq', sequence, (c) => c.primaryKey())
          .addColumn('time', text, (c) => c.notNull())
          .addColumn('actor', text, (c) => c.notNull())
          .addColumn('actor_type', text, (c) => c.notNull())
          .addColumn('source_ip', text, (c) => c.notNull())
          .addColumn('user_agent', text, (c) => c.notNull())
          .addColumn('action', text, (c) => c.notNull())
          .addColumn('resource', text, (c) => c.notNull())
          .addColumn('outcome', text, (c) => c.notNull())
          .addColumn('request_id', text, (c) => c.notNull())
          .addColumn('details', text, (c) => c.notNull())
          .addColumn('mac', text, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_time').on('audit_log').column('time').execute();
        await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['actor', 'seq']).execute();

        // One row: the chain head. Appenders lock it, so several servers sharing a database extend one chain.
        await db.schema
          .createTable('audit_head')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('seq', sequence, (c) => c.notNull())
          .addColumn('mac', text, (c) => c.notNull())
          .execute();
      },
    },
    '0003-token-ttl': {
      async up(db: Kysely<unknown>) {
        // The lifetime a token was issued with: renewals extend by this, not by how long it has lived so far.
        await db.schema.alterTable('api_tokens').addColumn('ttl_seconds', 'integer').execute();
      },
    },
    '0004-manifests': {
      async up(db: Kysely<unknown>) {
        // An app's declared secrets, per environment: what the UI and `keybox manifest status` compare with.
        await db.schema
          .createTable('manifests')
          .addColumn('environment_id', text, (c) => c.primaryKey().references('environments.id').onDelete('cascade'))
          .addColumn('body', text, (c) => c.notNull())
          .addColumn('updated_at', text, (c) => c.notNull())
          .addColumn('updated_by', text, (c) => c.notNull())
          .execute();
      },
    },
    '0005-audit-names': {
      async up(db: Kysely<unknown>) {
        // The name lists bulk reads served, once each, referenced from audit entries by SHA-256.
        await db.schema
          .createTable('audit_names')
          .addColumn('hash', text, (c) => c.primaryKey())
          .addColumn('names', text, (c) => c.notNull())
          .execute();
      },
    },
    '0006-folder-custom-metadata': {
      async up(db: Kysely<unknown>) {
        // A folder's custom metadata as the Vault API's metadata/ sets it (External Secrets' managed-by tag).
        await db.schema.alterTable('folders').addColumn('custom_metadata', text).execute();
      },
    },
    '0007-change-notifications': {
      async up(db: Kysely<unknown>) {
        if (!postgres) return; // one SQLite file serves one server: PRAGMA data_version covers other connections
        // Every commit that touches a table a read cache copies tells the other servers on this database, which drop
        // what they copied (see postgres-store.ts). A table added later that a cache reads needs its trigger too.
        await sql`
          create function keybox_notify_change() returns trigger language plpgsql as $$
          begin
            perform pg_notify('keybox_changes', tg_argv[0]);
            return null;
          end $$`.execute(db);
        for (const [table, area] of Object.entries(TABLE_AREAS)) {
          if (area === 0) continue;
          const name = area === ACCESS ? 'access' : 'secrets';
          await sql`
            create trigger keybox_changes after insert or update or delete or truncate on ${sql.table(table)}
            for each statement execute function keybox_notify_change(${sql.lit(name)})`.execute(db);
        }
        // Which folder changed, for long-polling watchers connected to another server.
        await sql`
          create function keybox_notify_folder() returns trigger language plpgsql as $$
          begin
            perform pg_notify('keybox_folders', new.id);
            return null;
          end $$`.execute(db);
        await sql`
          create trigger keybox_folders after insert or update on folders
          for each row execute function keybox_notify_folder()`.execute(db);
      },
    },
    '0008-store-generations': {
      async up(db: Kysely<unknown>) {
        if (postgres) return; // LISTEN/NOTIFY tells PostgreSQL servers (0007)
        // A counter per area, moved by every commit that touches a table a read cache copies, whichever connection
        // makes it. `PRAGMA data_version` says only that another connection committed something; the audit log
        // commits on a connection of its own (sqlite-audit-writer.ts) several hundred times a second under load,
        // and the read caches read these counters to tell its commits (no area moved) from a change they copied.
        // A table added later that a cache reads needs its triggers too (store-changes.ts, TABLE_AREAS).
        await sql`create table store_generations (id integer primary key, access integer not null, secrets integer not null)`.execute(
          db,
        );
        await sql`insert into store_generations (id, access, secrets) values (1, 0, 0)`.execute(db);
        for (const [table, area] of Object.entries(TABLE_AREAS)) {
          if (area === 0) continue;
          const column = sql.ref(area === ACCESS ? 'access' : 'secrets');
          for (const event of ['insert', 'update', 'delete'] as const) {
            await sql`
              create trigger ${sql.ref(`keybox_generation_${table}_${event}`)} after ${sql.raw(event)} on ${sql.table(table)}
              begin
                update store_generations set ${column} = ${column} + 1 where id = 1;
              end`.execute(db);
          }
        }
      },
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly set: Record<string, Migration>) {}
  getMigrations(): Promise<Record<string, Migration>> {
    return Promise.resolve(this.set);
  }
}

export async function migrateToLatest(db: Kysely<Database>, dialect: SqlDialect): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticProvider(migrations(dialect)) });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
