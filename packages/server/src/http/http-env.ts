import type { Logger } from 'pino';
import type { Principal } from '../core/auth/token-service.js';

/** What middleware puts on each request's context. */
export interface HttpEnv {
  Variables: {
    requestId: string;
    log: Logger;
    principal: Principal;
  };
}
