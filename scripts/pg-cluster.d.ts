export interface Cluster {
  /** postgres://keybox@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dir: string;
  urlOf(name: string): string;
  /** A fast shutdown, `whileDown()` with nothing listening, then the same cluster again on the same port. */
  restart(options?: { whileDown?: () => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
}
export function findPostgresBin(): string;
export function startCluster(options?: { durable?: boolean; log?: (line: string) => void }): Promise<Cluster>;
