/**
 * Tells long-polling watchers in this process that a folder changed. Publishing happens after the change is
 * committed. On a PostgreSQL store, folders changed through other servers are published here too (services.ts,
 * from the store's notifications); a watch request still compares ETags at its timeout, whatever it heard.
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
