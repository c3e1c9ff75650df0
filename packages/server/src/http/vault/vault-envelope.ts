import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
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
export function envelope(
  c: Context<HttpEnv>,
  body: { data?: unknown; auth?: VaultAuth; warnings?: string[]; mountType?: string },
  status: ContentfulStatusCode = 200,
) {
  return c.json(
    {
      request_id: c.get('requestId'),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: body.data ?? null,
      wrap_info: null,
      warnings: body.warnings ?? null,
      auth: body.auth ?? null,
      mount_type: body.mountType ?? '',
    },
    status,
  );
}

/** Go's `strconv.ParseBool`, which Vault uses for `?list=`: node-vault sends `1`, the Go client `true`. */
export function parseBool(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False', ''].includes(value)) return false;
  return undefined;
}
