import { join } from 'node:path';
import { BENCH, NODE } from './keybox-api.js';
import { runToEnd } from './sandbox.js';

const GENERATOR = join(BENCH, 'load-generator.js');

/**
 * Runs one load test in a separate process (see load-generator.js) and returns its JSON result. Fails when any
 * request errored or was not answered 2xx: a throughput figure made of 401s would be worthless.
 */
export async function runLoad(config) {
  const out = await runToEnd(NODE, [GENERATOR], { input: JSON.stringify(config) });
  const result = JSON.parse(out);
  const bad = Object.entries(result.statuses).filter(([s, n]) => s !== '2xx' && !s.startsWith('2') && n > 0);
  if (result.errors > 0 || bad.length > 0 || result.completed === 0) {
    throw new Error(`load on ${config.origin}: ${result.errors} errors, statuses ${JSON.stringify(result.statuses)}`);
  }
  return result;
}

/** A GET with the bench token, the same request bytes for keybox and for the ceiling (which ignores them). */
export function getRequest(path, token) {
  return { method: 'GET', path, headers: { authorization: `Bearer ${token}` } };
}
