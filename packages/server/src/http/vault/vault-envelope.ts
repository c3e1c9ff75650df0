import type { Context } from 'hono';
import { invalidInput } from '../../core/app-error.js';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { FolderRead } from '../../core/secrets/secret-service.js';
import type { HttpEnv } from '../http-env.js';

/** The `auth` block of a Vault response (a login, a renewal). */
export interface VaultAuth {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies: string[];
  metadata: Record<string, string> | null;
  lease_duration: number;
  renewable: boolean;
  entity_id: string;
  token_type: 'service';
  orphan: boolean;
  mfa_requirement: null;
  num_uses: number;
}

/**
 * Vault's response envelope. KV v2 holds no leases, so the lease fields are always empty; `request_id` is the request
 * id Keybox logs and audits (also sent as `x-request-id`).
 */
export function envelope(c: Context<HttpEnv>, body: EnvelopeParts, status: ContentfulStatusCode = 200) {
  return c.json(envelopeOf(c, body), status);
}

type EnvelopeParts = { data?: unknown; auth?: VaultAuth; warnings?: string[]; mountType?: string };

export function envelopeOf(c: Context<HttpEnv>, body: EnvelopeParts) {
  return {
    request_id: c.get('requestId'),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: body.data ?? null,
    wrap_info: null,
    warnings: body.warnings ?? null,
    auth: body.auth ?? null,
    mount_type: body.mountType ?? '',
  };
}

/** Go's `strconv.ParseBool`, which Vault uses for `?list=`: node-vault sends `1`, the Go client `true`. */
export function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False', ''].includes(value)) return false;
  return undefined;
}

/**
 * The body of a KV read of a folder's current contents, as `envelope` would make it, with the folder's data map
 * spliced in as the JSON text the read kept (the Vault read is the hot path; the route and the direct listener share
 * this). The keys are in the order `envelope` writes them.
 */
export function kvReadBody(
  requestId: string,
  read: Pick<FolderRead, 'dataJson' | 'customMetadataJson' | 'updatedAt' | 'revision'>,
): string {
  const metadata = `{"created_time":${JSON.stringify(read.updatedAt)},"custom_metadata":${read.customMetadataJson},"deletion_time":"","destroyed":false,"version":${read.revision}}`;
  return (
    `{"request_id":${JSON.stringify(requestId)},"lease_id":"","renewable":false,"lease_duration":0,` +
    `"data":{"data":${read.dataJson},"metadata":${metadata}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}`
  );
}

/** A JSON body, as Vault reads one: with or without a content type, and an empty body as `{}`. */
export async function vaultBody(c: Context<HttpEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidInput('the request body is not valid JSON');
  }
}
