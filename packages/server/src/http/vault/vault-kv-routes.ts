import { createHash } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { AppError, invalidInput } from '../../core/app-error.js';
import type { AuditLog } from '../../core/audit/audit-log.js';
import { canSeeProject, decide, mayReachBelow } from '../../core/policy/policy-engine.js';
import type { Capability } from '../../core/policy/policy-rules.js';
import type { ProjectService } from '../../core/projects/project-service.js';
import { assertPath } from '../../core/secrets/locations.js';
import type { CustomMetadata } from '../../core/secrets/folder-versions.js';
import type { Scope, SecretService } from '../../core/secrets/secret-service.js';
import { auditAs, txAudit } from '../audit-middleware.js';
import { authorizePrincipal } from '../authorize.js';
import type { HttpEnv } from '../http-env.js';
import { bulkReadAudit } from '../routes/secret-routes.js';
import { intParam, parseQuery } from '../validate.js';
import { envelope, kvReadBody, parseBool, vaultBody } from './vault-envelope.js';
import { VaultHttpError } from './vault-errors.js';

/*
 * KV v2 over Keybox's model. The mount is the project; the first segment of a secret path is the environment and
 * the rest is the folder, so `GET /v1/shop/data/prod/backend` reads folder /backend of shop/prod (and
 * `shop/data/prod` its root folder). A Vault "secret" is a whole folder: its data map is the folder's live secrets,
 * name → value, and its version is the folder's revision. Writes replace (POST/PUT) or merge-patch (PATCH) the folder
 * in one revision; a folder's custom metadata (metadata/) is kept beside it. Every read and write is authorized by
 * Keybox policies and audited like the native API's.
 */

export interface VaultKvDeps {
  secrets: SecretService;
  projects: Pick<ProjectService, 'get'>;
  auditLog: Pick<AuditLog, 'appendIn' | 'publishedWhen'>;
}

type Operation = 'data' | 'metadata' | 'delete' | 'undelete' | 'destroy';

interface Location {
  project: string;
  /** Undefined only at the mount root (a metadata listing). */
  env: string | undefined;
  path: string;
}

/** The location a KV path names: `/v1/<project>/<operation>/<environment>/<folder...>`. */
function locationOf(c: Context<HttpEnv>, operation: Operation): Location {
  const project = c.req.param('mount') ?? '';
  const prefix = `/v1/${project}/${operation}`;
  const segments = c.req.path
    .slice(prefix.length)
    .split('/')
    .filter((s) => s !== '');
  const [env, ...folder] = segments;
  return { project, env, path: assertPath(`/${folder.join('/')}`) };
}

/** A location that must name an environment (everything but a listing of the mount). */
function scopeOf(c: Context<HttpEnv>, operation: Operation): Scope {
  const location = locationOf(c, operation);
  if (location.env === undefined) {
    throw invalidInput(
      `give a secret path: ${location.project}/${operation}/<environment>[/<folder>] (the mount is project ${location.project})`,
    );
  }
  return { project: location.project, env: location.env, path: location.path };
}

function resourceOf(scope: Scope): string {
  return `${scope.project}/${scope.env}:${scope.path}`;
}

function authorizeScope(c: Context<HttpEnv>, capability: Capability, scope: Scope): void {
  authorizePrincipal(c.get('principal'), { capability, ...scope });
}

// Vault parses cas from a number or a numeric string.
const cas = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
]);
// `data` is checked by valuesOf on the object as parsed: a copy made by zod would lose a key named __proto__.
const writeBody = z.object({
  data: z.unknown().optional(),
  options: z.object({ cas: cas.optional() }).passthrough().nullish(),
});
const versionsBody = z.object({ versions: z.array(z.number().int().min(0)).max(1000).optional() });
const readQuery = z.object({ version: intParam.optional() });

/** The data map of a write, as Keybox values: text only (null deletes, in a patch). */
function valuesOf(data: unknown, allowNull: boolean): Record<string, string | null> {
  if (data === undefined || data === null) throw invalidInput('no data provided');
  if (typeof data !== 'object' || Array.isArray(data)) throw invalidInput('invalid body: data: expected an object');
  // No prototype: every name is a plain key, __proto__ included.
  const values = Object.create(null) as Record<string, string | null>;
  for (const [name, value] of Object.entries(data as Record<string, unknown>)) {
    if (typeof value === 'string' || (allowNull && value === null)) values[name] = value;
    else {
      throw invalidInput(
        `data.${name.slice(0, 64)}: Keybox stores each secret as text (it becomes an environment variable); send a JSON string`,
      );
    }
  }
  return values;
}

function parseWrite(raw: unknown) {
  const parsed = writeBody.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
    throw invalidInput(`invalid body: ${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** What a write answers: the folder's revision as the KV version. */
function writeMetadata(revision: number, createdTime: string | null, customMetadata: CustomMetadata | null) {
  return {
    created_time: createdTime ?? '',
    custom_metadata: customMetadata,
    deletion_time: '',
    destroyed: false,
    version: revision,
  };
}

/** Vault's limits on custom metadata. */
const CUSTOM_KEYS_MAX = 64;
const CUSTOM_KEY_BYTES = 128;
const CUSTOM_VALUE_BYTES = 512;

const metadataBody = z.object({
  custom_metadata: z.record(z.string(), z.unknown()).nullish(),
  max_versions: z.number().int().min(0).optional(),
  cas_required: z.boolean().optional(),
  delete_version_after: z.union([z.string(), z.number()]).optional(),
});

/** The custom metadata a write gives, checked (null values only where a merge patch deletes keys). */
function customMetadataOf(raw: unknown, allowNull: boolean): Record<string, string | null> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalidInput('invalid body: custom_metadata: expected an object of strings');
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > CUSTOM_KEYS_MAX) throw invalidInput(`custom_metadata: at most ${CUSTOM_KEYS_MAX} keys`);
  const map = Object.create(null) as Record<string, string | null>;
  for (const [key, value] of entries) {
    if (key === '' || Buffer.byteLength(key) > CUSTOM_KEY_BYTES) {
      throw invalidInput(`custom_metadata: a key is 1 to ${CUSTOM_KEY_BYTES} bytes`);
    }
    if (value === null && allowNull) map[key] = null;
    else if (typeof value === 'string' && Buffer.byteLength(value) <= CUSTOM_VALUE_BYTES) map[key] = value;
    else throw invalidInput(`custom_metadata.${key.slice(0, 64)}: a string of at most ${CUSTOM_VALUE_BYTES} bytes`);
  }
  return map;
}

/** Settings Vault stores per path and Keybox does not: only their defaults are accepted. */
function refuseSettings(body: z.infer<typeof metadataBody>): void {
  const after = body.delete_version_after;
  if (
    (body.max_versions ?? 0) !== 0 ||
    body.cas_required === true ||
    (after !== undefined && after !== 0 && after !== '0s' && after !== '0')
  ) {
    throw invalidInput(
      'max_versions, cas_required and delete_version_after are not stored by Keybox: it keeps every version and ' +
        'checks cas only when a write gives it (custom_metadata is stored)',
    );
  }
}

export function vaultKvRoutes({ secrets, projects, auditLog }: VaultKvDeps) {
  const app = new Hono<HttpEnv>();
  const kv = (c: Context<HttpEnv>, body: Parameters<typeof envelope>[1], status?: 200 | 404) =>
    envelope(c, { ...body, mountType: 'kv' }, status);

  /** The folder's current contents (the hot path: the bulk read's cached rows), or one revision of it. */
  app.get('/:mount/data/*', async (c) => {
    const scope = scopeOf(c, 'data');
    const { version } = parseQuery(c, readQuery);
    auditAs(c, 'vault.kv.read', resourceOf(scope), version === undefined ? undefined : { version });
    authorizeScope(c, 'read', scope);
    if (version === undefined || version === 0) {
      const read = await secrets.readFolder(scope.project, scope.env, scope.path);
      Object.assign(c.get('audit'), bulkReadAudit({ status: 200, folders: read.folders }));
      // A folder that only has metadata (written through metadata/) has no version yet.
      if (read.revision === 0) return c.json({ errors: [] }, 404);
      const metadata = {
        created_time: read.updatedAt,
        custom_metadata: JSON.parse(read.customMetadataJson) as CustomMetadata | null,
        deletion_time: '',
        destroyed: false,
      };
      if (read.count === 0) {
        // A folder whose last revision deleted everything: Vault's answer for a soft-deleted version.
        return kv(
          c,
          { data: { data: null, metadata: { ...metadata, deletion_time: read.updatedAt, version: read.revision } } },
          404,
        );
      }
      c.header('content-type', 'application/json');
      return c.body(kvReadBody(c.get('requestId'), read));
    }
    try {
      const at = await secrets.folderAt(scope, version);
      c.get('audit').details['served'] = { revision: at.revision, secrets: at.secrets.map((s) => [s.name, s.version]) };
      const metadata = { created_time: at.createdAt, custom_metadata: at.customMetadata, destroyed: false, version };
      if (at.secrets.length === 0) {
        return kv(c, { data: { data: null, metadata: { ...metadata, deletion_time: at.createdAt } } }, 404);
      }
      const data = Object.create(null) as Record<string, string>; // __proto__ is a name like any other
      for (const s of at.secrets) data[s.name] = s.value;
      return kv(c, { data: { data, metadata: { ...metadata, deletion_time: '' } } });
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'VALUE_DESTROYED') throw error;
      return kv(
        c,
        {
          data: {
            data: null,
            metadata: { created_time: '', custom_metadata: null, deletion_time: '', destroyed: true, version },
          },
        },
        404,
      );
    }
  });

  /**
   * POST/PUT (`replace`): the folder becomes exactly `data`, secrets it does not name deleted. PATCH (`merge`, an
   * RFC 7386 merge patch): given names are set, null ones deleted, the rest kept. One revision either way; dropping
   * a secret is a delete, and needs the right to delete.
   */
  const writeData = (mode: 'replace' | 'merge') => async (c: Context<HttpEnv>) => {
    const scope = scopeOf(c, 'data');
    auditAs(c, mode === 'replace' ? 'vault.kv.write' : 'vault.kv.patch', resourceOf(scope));
    authorizeScope(c, 'write', scope);
    if (mode === 'merge') requireMergePatch(c);
    const body = parseWrite(await vaultBody(c));
    const values = valuesOf(body.data, mode === 'merge');
    const result = await checkAndSet(
      secrets.writeFolder(scope, values, {
        mode,
        actor: c.get('principal').actor,
        ifRevision: body.options?.cas,
        mayDelete: () => authorizeScope(c, 'delete', scope),
        audit: txAudit(c, auditLog),
      }),
      body.options?.cas,
    );
    return kv(c, { data: writeMetadata(result.revision, result.updatedAt, result.customMetadata) });
  };
  app.post('/:mount/data/*', writeData('replace'));
  app.put('/:mount/data/*', writeData('replace'));
  app.patch('/:mount/data/*', writeData('merge'));

  /** DELETE: every live secret of the folder is deleted in a new revision; history stays (`undelete` restores). */
  const deleteLatest = async (c: Context<HttpEnv>, scope: Scope) => {
    authorizeScope(c, 'delete', scope);
    // Like Vault, deleting what is not there succeeds (an unknown project or environment is still a 404).
    await secrets.writeFolder(
      scope,
      {},
      { mode: 'clear', actor: c.get('principal').actor, audit: txAudit(c, auditLog) },
    );
    return c.body(null, 204);
  };
  app.delete('/:mount/data/*', async (c) => {
    const scope = scopeOf(c, 'data');
    auditAs(c, 'vault.kv.delete', resourceOf(scope));
    return deleteLatest(c, scope);
  });

  /** `delete/` of named versions: Keybox soft-deletes only the current one (older revisions are history). */
  app.post('/:mount/delete/*', async (c) => {
    const scope = scopeOf(c, 'delete');
    auditAs(c, 'vault.kv.delete', resourceOf(scope));
    authorizeScope(c, 'delete', scope);
    const versions = versionsOf(await vaultBody(c));
    c.get('audit').details['versions'] = versions;
    let current: number;
    try {
      current = (await secrets.folderVersions(scope)).current;
    } catch (error) {
      // A folder that does not exist has nothing to delete: success, as for DELETE (a missing environment is a 404).
      if (error instanceof AppError && error.code === 'NOT_FOUND' && error.details?.['path'] !== undefined) {
        return c.body(null, 204);
      }
      throw error;
    }
    if (!versions.includes(current)) {
      throw invalidInput(
        `Keybox can delete only the current version (${current}) of a folder; older versions are its history`,
      );
    }
    return deleteLatest(c, scope);
  });

  /** `undelete/`: when the current revision deleted everything, the folder goes back to the revision before it. */
  app.post('/:mount/undelete/*', async (c) => {
    const scope = scopeOf(c, 'undelete');
    auditAs(c, 'vault.kv.undelete', resourceOf(scope));
    authorizeScope(c, 'write', scope);
    const versions = versionsOf(await vaultBody(c));
    const read = await secrets.readFolder(scope.project, scope.env, scope.path);
    c.get('audit').details['versions'] = versions;
    const deleted = read.count === 0 && read.revision > 1;
    if (deleted && (versions.includes(read.revision) || versions.includes(read.revision - 1))) {
      await secrets.rollbackFolder(
        scope,
        { toRevision: read.revision - 1 },
        { actor: c.get('principal').actor, ifRevision: read.revision, audit: txAudit(c, auditLog) },
      );
    }
    return c.body(null, 204);
  });

  const destroy = (c: Context<HttpEnv>) => {
    const scope = scopeOf(c, 'destroy');
    auditAs(c, 'vault.kv.destroy', resourceOf(scope));
    authorizeScope(c, 'delete', scope);
    throw invalidInput(
      'destroy is not supported through the Vault API: Keybox destroys single secret versions ' +
        '(POST /api/v1/projects/<project>/environments/<env>/secrets/<name>/versions/<n>/destroy)',
    );
  };
  app.post('/:mount/destroy/*', destroy);
  app.put('/:mount/destroy/*', destroy);

  /** `metadata/`: `?list=true` lists what is below a path (filtered by policy); otherwise the folder's versions. */
  const metadata = async (c: Context<HttpEnv>) => {
    const list = parseBool(c.req.query('list') ?? 'false');
    if (list === undefined) throw invalidInput('list: expected a boolean');
    if (list) return listKeys(c);
    const scope = scopeOf(c, 'metadata');
    auditAs(c, 'vault.kv.metadata', resourceOf(scope));
    authorizeScope(c, 'list', scope);
    const { current, versions, customMetadata } = await secrets.folderVersions(scope);
    const first = versions[0];
    const last = versions[versions.length - 1];
    // A folder with neither versions nor metadata is nothing Vault would know of.
    if (first === undefined && customMetadata === null) return c.json({ errors: [] }, 404);
    return kv(c, {
      data: {
        cas_required: false,
        created_time: first?.createdAt ?? '',
        current_version: current,
        custom_metadata: customMetadata,
        delete_version_after: '0s',
        max_versions: 0,
        oldest_version: first?.revision ?? 0,
        updated_time: last?.createdAt ?? '',
        versions: Object.fromEntries(
          versions.map((v) => [
            String(v.revision),
            { created_time: v.createdAt, deletion_time: v.live === 0 ? v.createdAt : '', destroyed: false },
          ]),
        ),
      },
    });
  };
  app.get('/:mount/metadata/*', metadata);

  /**
   * POST/PUT: `custom_metadata`, when given, replaces the folder's (a folder that does not exist yet is created
   * empty, as Vault creates the key's metadata). PATCH merges it (null deletes a key). The per-path settings Keybox
   * does not keep are accepted only at their defaults.
   */
  const metadataWrite = (mode: 'replace' | 'merge') => async (c: Context<HttpEnv>) => {
    const scope = scopeOf(c, 'metadata');
    auditAs(c, 'vault.kv.metadata-write', resourceOf(scope));
    authorizeScope(c, 'write', scope);
    if (mode === 'merge') requireMergePatch(c);
    const body = await vaultBody(c);
    const parsed = metadataBody.safeParse(body);
    if (!parsed.success) throw invalidInput('invalid body: custom_metadata is an object of strings');
    refuseSettings(parsed.data);
    // Checked on the body as parsed from JSON: zod's copy of a record would drop a key named __proto__.
    const raw = (body as Record<string, unknown>)['custom_metadata'];
    const given = raw === undefined ? undefined : raw === null ? null : customMetadataOf(raw, mode === 'merge');
    await secrets.writeFolderMetadata(
      scope,
      (current) => {
        if (given === undefined) return current;
        if (given === null || mode === 'replace') return given as CustomMetadata | null;
        const next = Object.assign(Object.create(null) as Record<string, string | null>, current, given);
        for (const [key, value] of Object.entries(next)) if (value === null) delete next[key];
        // The limit holds for the result, not only for one patch (inside the transaction: nothing is written).
        if (Object.keys(next).length > CUSTOM_KEYS_MAX) {
          throw invalidInput(`custom_metadata: at most ${CUSTOM_KEYS_MAX} keys (the patch would make more)`);
        }
        return next;
      },
      { actor: c.get('principal').actor, audit: txAudit(c, auditLog) },
    );
    return c.body(null, 204);
  };
  app.post('/:mount/metadata/*', metadataWrite('replace'));
  app.put('/:mount/metadata/*', metadataWrite('replace'));
  app.patch('/:mount/metadata/*', metadataWrite('merge'));

  /**
   * DELETE: Vault removes the key with all its versions. Keybox keeps history, so the folder's live secrets are
   * deleted (a new revision) and its custom metadata removed, in one transaction; `undelete/` still restores.
   */
  app.delete('/:mount/metadata/*', async (c) => {
    const scope = scopeOf(c, 'metadata');
    auditAs(c, 'vault.kv.metadata-delete', resourceOf(scope));
    authorizeScope(c, 'delete', scope);
    await secrets.writeFolderMetadata(scope, () => null, {
      actor: c.get('principal').actor,
      clearSecrets: true,
      audit: txAudit(c, auditLog),
    });
    return c.body(null, 204);
  });

  /**
   * A listing: at the mount root the environments, below it the folders and secrets (folders with live secrets)
   * one level down, as Vault does ("name" for a secret, "name/" for a folder). Unlike Vault, what the caller's
   * policies do not let it list or read is left out.
   */
  async function listKeys(c: Context<HttpEnv>) {
    const location = locationOf(c, 'metadata');
    const principal = c.get('principal');
    const { project } = location;
    const reaches = (env: string, path: string) =>
      (['list', 'read'] as const).some(
        (capability) =>
          decide(principal.policies, { capability, project, env, path }).allowed ||
          mayReachBelow(principal.policies, { capability, project, env, path }),
      );
    if (location.env === undefined) {
      auditAs(c, 'vault.kv.list', `${project}`);
      if (!canSeeProject(principal.policies, project)) authorizePrincipal(principal, { capability: 'list', project });
      const { environments } = await projects.get(project);
      const keys = environments
        .filter((e) => reaches(e.slug, '/'))
        .map((e) => `${e.slug}/`)
        .sort();
      c.get('audit').details['keys'] = keys.length;
      return keys.length === 0 ? c.json({ errors: [] }, 404) : kv(c, { data: { keys } });
    }
    const scope = { project, env: location.env, path: location.path };
    auditAs(c, 'vault.kv.list', resourceOf(scope));
    if (!reaches(scope.env, scope.path)) authorizeScope(c, 'list', scope);
    const visible = (path: string) =>
      (['list', 'read'] as const).some(
        (capability) => decide(principal.policies, { capability, project, env: scope.env, path }).allowed,
      );
    const folders = await secrets.listFolders(scope, { allow: visible });
    const depth = scope.path === '/' ? 0 : scope.path.split('/').length - 1;
    const keys = new Set<string>();
    for (const folder of folders) {
      if (folder.path === scope.path) continue;
      const parts = folder.path.split('/').slice(1);
      const child = parts[depth] as string;
      if (parts.length === depth + 1) {
        if (folder.secretCount > 0) keys.add(child);
      } else keys.add(`${child}/`);
    }
    const sorted = [...keys].sort();
    c.get('audit').details['keys'] = sorted.length;
    return sorted.length === 0 ? c.json({ errors: [] }, 404) : kv(c, { data: { keys: sorted } });
  }

  return app;
}

/** PATCH takes only a JSON merge patch, as in Vault: 415 otherwise. */
function requireMergePatch(c: Context<HttpEnv>): void {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/merge-patch+json')) {
    throw new VaultHttpError(
      415,
      `PATCH requires Content-Type of application/merge-patch+json, provided ${JSON.stringify(type.slice(0, 100))}`,
    );
  }
}

/**
 * A write's refusal for a stale `cas`, in Vault's words (clients match them), with Keybox's after. Another conflict
 * (a concurrent writer, with no cas given) keeps Keybox's message alone.
 */
async function checkAndSet<T>(write: Promise<T>, cas: number | undefined): Promise<T> {
  try {
    return await write;
  } catch (error) {
    if (cas !== undefined && error instanceof AppError && error.code === 'CONFLICT') {
      throw new VaultHttpError(400, [CAS_MISMATCH, error.message]);
    }
    throw error;
  }
}

export const CAS_MISMATCH = 'check-and-set parameter did not match the current version';

function versionsOf(raw: unknown): number[] {
  const parsed = versionsBody.safeParse(raw);
  if (!parsed.success) throw invalidInput('invalid body: versions: expected a list of version numbers');
  const versions = parsed.data.versions ?? [];
  if (versions.length === 0) throw invalidInput('no version number provided');
  return versions;
}

/** How `sys/internal/ui/mounts/<path>` describes a project: a KV version 2 mount (the CLI needs the string "2"). */
export function mountDescription(project: string) {
  const digest = createHash('sha256').update(`keybox-mount\0${project}`).digest('hex');
  return {
    accessor: `kv_${digest.slice(0, 8)}`,
    config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0 },
    description: `Keybox project ${project}: <environment>/<folder> paths`,
    external_entropy_access: false,
    local: false,
    options: { version: '2' },
    path: `${project}/`,
    seal_wrap: false,
    type: 'kv',
    uuid: `${digest.slice(8, 16)}-${digest.slice(16, 20)}-${digest.slice(20, 24)}-${digest.slice(24, 28)}-${digest.slice(28, 40)}`,
  };
}
