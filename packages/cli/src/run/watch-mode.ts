import { childGetsOwnGroup, forwardSignals, startChild, type ChildSpec, type RunningChild } from './supervise-child.js';

/*
 * `--watch`: keep the child running with the current secrets. A long poll on the server says when the scope's
 * ETag changes; after a debounce the secrets are fetched again and, if they differ, the child is stopped (SIGTERM,
 * the grace period, then SIGKILL) and started again with them. A failed fetch never restarts anything: the child
 * keeps running on what it has, and data from the cache never restarts a child. When the child exits on its own,
 * keybox exits with its status.
 */

export interface Generation {
  spec: ChildSpec;
  etag: string | undefined;
  /** Called when this generation's child is gone (e.g. to remove its secret files). */
  dispose?: (() => void) | undefined;
}

export interface WatchOptions {
  first: Generation;
  /** Long poll: resolves when the scope's ETag is not `etag` any more (or the wait ended). */
  watch(etag: string | undefined): Promise<{ changed: boolean; etag: string }>;
  /**
   * Fetches again from the server (never the cache) with the current generation's ETag. `generation` is set when
   * what the child would see changed; `etag` is the scope's new ETag either way.
   */
  refresh(etag: string | undefined): Promise<{ etag: string | undefined; generation?: Generation | undefined }>;
  graceMs: number;
  debounceMs: number;
  note(line: string): void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function superviseWatching(options: WatchOptions): Promise<number> {
  const sleep = options.sleep ?? defaultSleep;
  const ownGroup = childGetsOwnGroup();
  let generation = options.first;
  let current: RunningChild | undefined;
  let etag = generation.etag;
  let refreshFailures = 0;
  const uninstall = forwardSignals(() => current, ownGroup);
  process.once('exit', () => generation.dispose?.());

  // The watcher runs beside the child and raises a flag; the loop below takes it down once it has acted on it.
  // It always compares with the running generation's ETag, so a change whose fetch failed is seen again.
  let signalChange: (() => void) | undefined;
  let pendingChange = false;
  const changed = () => (pendingChange ? Promise.resolve() : new Promise<void>((resolve) => (signalChange = resolve)));
  void (async () => {
    for (let failures = 0; ;) {
      if (pendingChange) {
        await sleep(100);
        continue;
      }
      try {
        const answer = await options.watch(etag);
        failures = 0;
        if (answer.changed) {
          pendingChange = true;
          signalChange?.();
        }
      } catch {
        failures += 1;
        await sleep(Math.min(30_000, 1000 * 2 ** Math.min(failures, 5)));
      }
    }
  })();

  try {
    current = startChild(generation.spec, ownGroup);
    for (;;) {
      const running = current;
      const event = await Promise.race([
        running.exited.then((status) => ({ exit: status })),
        changed().then(() => ({ exit: undefined })),
      ]);
      if (event.exit !== undefined) return event.exit;
      // Gather a burst of changes into one restart; the child may also end on its own meanwhile.
      const early = await Promise.race([running.exited, sleep(options.debounceMs).then(() => undefined)]);
      if (early !== undefined) return early;
      let refreshed: Awaited<ReturnType<WatchOptions['refresh']>>;
      try {
        refreshed = await options.refresh(etag);
      } catch (error) {
        options.note(`secrets changed but could not be fetched (${(error as Error).message}); the child keeps running`);
        await sleep(Math.min(30_000, (refreshFailures += 1) * 2000));
        pendingChange = false;
        continue;
      }
      refreshFailures = 0;
      etag = refreshed.etag;
      pendingChange = false;
      const next = refreshed.generation;
      if (next === undefined) continue;
      options.note('secrets changed: restarting the command');
      running.signal('SIGTERM');
      const stopped = await Promise.race([running.exited.then(() => true), sleep(options.graceMs).then(() => false)]);
      if (!stopped) {
        options.note(`the command did not stop within ${options.graceMs / 1000} s: SIGKILL`);
        running.signal('SIGKILL');
        await running.exited;
      }
      generation.dispose?.();
      generation = next;
      current = startChild(generation.spec, ownGroup);
    }
  } finally {
    uninstall();
    generation.dispose?.();
  }
}
