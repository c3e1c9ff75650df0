import type { CompiledPolicy } from '../policy/policy-engine.js';
import type { PrincipalType } from '../policy/policy-service.js';

/** Who is calling, as resolved from a token on each request (reused only until the store changes: token-service.ts). */
export interface Principal {
  type: PrincipalType;
  /** The user's, identity's or static token's id. */
  id: string;
  name: string;
  /** How the caller appears in versions and the audit log: `user:alice`, `identity:ci`, `token:deploy`. */
  actor: string;
  /** The token used for this request (renew/revoke-self act on it). */
  tokenId: string;
  tokenKind: 'api' | 'session' | 'access';
  policies: CompiledPolicy[];
}
