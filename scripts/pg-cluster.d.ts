export interface Cluster {
  /** postgres://keybox@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  dir: string;
  urlOf(name: string): string;
  stop(): Promise<void>;
}
export function findPostgresBin(): string;
export function startCluster(options?: { durable?: boolean; log?: (line: string) => void }): Promise<Cluster>;
