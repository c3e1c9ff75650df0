import { isKeyboxError, type BulkFolder, type BulkReadScope, type KeyboxClient } from '@keybox/sdk';
import type { Source } from '../run/fetch-scope.js';

/*
 * `keybox agent` after its first render: a long poll says when the scope's ETag moves; after a debounce the scope is
 * fetched again (from the server, never the cache) and rendered; files someone deleted or replaced are written
 * again; SIGHUP asks for all of it at once. A failed fetch changes nothing on disk: the files keep the last values
 * the server sent.
 */

export type Render = (folders: BulkFolder[], source: Source) => Promise<void>;

export interface LoopOptions {
  scope: BulkReadScope;
  etag: string | undefined;
  /** A connected client, logging in again when an identity's access token has expired (see `withLogin`). */
  call<T>(use: (client: KeyboxClient) => Promise<T>): Promise<T>;
  /** Fetches, renders and runs the hook. */
  render: Render;
  /** Writes again the files found missing or replaced; returns their names. */
  repair(): Promise<string[]>;
  /** A fresh copy from the server was stored: keep the encrypted last-known-good copy up to date. */
  remember(folders: BulkFolder[], etag: string | undefined): void;
  /** The server refused (401/403/404): the cached copy must not outlive that. */
  forget(): void;
  debounceMs: number;
  report(event: AgentEvent): void;
  /** Resolves when SIGHUP asks for a refresh; each call waits for the next one. */
  hangups(): Promise<void>;
  sleep?: (ms: number) => Promise<void>;
  /** For tests: stop after this many turns of the loop. */
  turns?: number;
}

export type AgentEvent =
  | { event: 'error'; code: string; message: string; retryInSeconds: number }
  | { event: 'repaired'; names: string[] }
  | { event: 'reconnected' };

// Not unref'd: between requests (idle keep-alive sockets are unref'd) this timer is what keeps the agent alive.
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs until the process is stopped. */
export async function watchAndRender(options: LoopOptions): Promise<void> {
  const sleep = options.sleep ?? defaultSleep;
  let etag = options.etag;
  let failures = 0;
  let hangup = false;
  // One SIGHUP listener for the whole loop: it raises a flag and cuts the current wait short.
  let cutShort: (() => void) | undefined;
  void (async () => {
    for (;;) {
      await options.hangups();
      hangup = true;
      cutShort?.();
    }
  })();
  // The work is started only when no SIGHUP is pending; work cut short is left to finish or fail on its own.
  const interruptible = <T>(start: () => Promise<T>): Promise<T | undefined> => {
    if (hangup) return Promise.resolve(undefined);
    const work = start();
    work.catch(() => undefined);
    return Promise.race([work, new Promise<undefined>((resolve) => (cutShort = () => resolve(undefined)))]);
  };

  for (let turn = 0; options.turns === undefined || turn < options.turns; turn++) {
    try {
      const answer = await interruptible(() => options.call((c) => c.watch(options.scope, etag, 25)));
      // Only an answer says the server is back (a SIGHUP cuts the wait short without one).
      if (answer !== undefined) {
        if (failures > 0) options.report({ event: 'reconnected' });
        failures = 0;
      }
      const repaired = await options.repair();
      if (repaired.length > 0) options.report({ event: 'repaired', names: repaired });
      if (answer?.changed !== true && !hangup) continue;
      if (!hangup) await interruptible(() => sleep(options.debounceMs));
      hangup = false;
      const result = await options.call((c) => c.bulkRead(options.scope, etag === undefined ? {} : { etag }));
      if (result.notModified) {
        etag = result.etag;
        continue;
      }
      options.remember(result.data.folders, result.etag);
      // The ETag moves on only once the render worked: a render that failed is tried again at the next turn.
      await options.render(result.data.folders, { kind: 'server', notModified: false });
      etag = result.etag;
    } catch (error) {
      failures += 1;
      const wait = Math.min(30, 2 ** Math.min(failures, 5));
      const refused = isKeyboxError(error) && (error.status === 401 || error.status === 403 || error.status === 404);
      if (refused) options.forget();
      options.report({
        event: 'error',
        code: isKeyboxError(error) ? error.code : ((error as { code?: string }).code ?? 'INTERNAL'),
        message: `${(error as Error).message}${refused ? '; the files keep their last values' : ''}`,
        retryInSeconds: wait,
      });
      // The files on disk may still need repairing while the server is away.
      try {
        const repaired = await options.repair();
        if (repaired.length > 0) options.report({ event: 'repaired', names: repaired });
      } catch {
        // Reported by the next turn's render, if it persists.
      }
      await interruptible(() => sleep(wait * 1000));
    }
  }
}
