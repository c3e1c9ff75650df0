/**
 * Tells long-polling watchers in this process that a folder changed. Publishing happens after the change is
 * committed. Other server processes sharing the database do not see these events: a watch request still returns
 * at its timeout with the current ETag, so their changes are noticed within one timeout.
 */
export interface FolderChange {
  project: string;
  env: string;
  path: string;
}

export function createChangeFeed() {
  const listeners = new Set<(change: FolderChange) => void>();
  return {
    publish(change: FolderChange): void {
      for (const listener of listeners) listener(change);
    },
    subscribe(listener: (change: FolderChange) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get size() {
      return listeners.size;
    },
  };
}

export type ChangeFeed = ReturnType<typeof createChangeFeed>;
