import { isKeyboxError } from '../client/keybox-error.js';
import {
  isTransient,
  type BundleScope,
  type FetchBundle,
  type KeyboxBundle,
  type RetryPolicy,
} from './keybox-source.js';

export type FetchOutcome = { ok: true; bundle: KeyboxBundle } | { ok: false; code: string; message: string };

type Emit = (
  event:
    | { type: 'keybox-fetched'; project: string; env: string; paths: string[]; count: number; attempt: number }
    | { type: 'keybox-failed'; code: string; message: string; attempt: number; retrying: boolean },
) => void;

/**
 * Fetches the bundle, retrying transient failures (network, timeout, 5xx) with a doubling delay. A rejected token or
 * a missing folder is not retried: another attempt would give the same answer. Never throws: the outcome
 * goes into the status, and the app decides whether a missing secret stops it.
 */
export async function fetchWithRetry(
  fetchBundle: FetchBundle,
  scope: BundleScope,
  policy: RetryPolicy & { sleep: (ms: number) => Promise<void>; emit: Emit },
): Promise<FetchOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      const bundle = await fetchBundle(scope);
      policy.emit({
        type: 'keybox-fetched',
        project: scope.project,
        env: scope.env,
        paths: [...scope.paths],
        count: bundle.secrets.size,
        attempt,
      });
      return { ok: true, bundle };
    } catch (error) {
      // KeyboxError messages never hold a value; anything else (a plugged-in fetcher's own error) is not shown.
      const code = isKeyboxError(error) ? error.code : 'UNEXPECTED';
      const message = isKeyboxError(error) ? error.message : 'the bundle fetcher failed';
      const retrying = isTransient(error) && attempt <= policy.retries;
      policy.emit({ type: 'keybox-failed', code, message, attempt, retrying });
      if (!retrying) return { ok: false, code, message };
      await policy.sleep(policy.delayMs * 2 ** (attempt - 1));
    }
  }
}
