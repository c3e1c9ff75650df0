import type { Shadowed } from '@keybox/sdk';
import { printJson, printTable } from '../output/print.js';

/** One variable the child would get, and where it comes from: never its value. */
export interface PlanRow {
  name: string;
  source: 'server' | 'cache' | 'fallback';
  path: string;
  version: number;
  outcome: string;
}

export function printPlan(rows: readonly PlanRow[], shadowed: readonly Shadowed[], json: boolean): void {
  if (json) {
    printJson({ variables: rows, shadowed });
    return;
  }
  printTable(
    ['NAME', 'SOURCE', 'FOLDER', 'VERSION', 'OUTCOME'],
    rows.map((r) => [r.name, r.source, r.path, r.source === 'fallback' ? '-' : r.version, r.outcome]),
  );
}
