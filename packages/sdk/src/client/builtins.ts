import type * as Fs from 'node:fs';
import type * as Http from 'node:http';
import type * as Https from 'node:https';

/*
 * `import http from 'node:http'` in an ES module costs ~30 ms on Node 24: building the module namespace touches
 * lazy getters that load undici. `process.getBuiltinModule` (Node >= 20.16) returns the CommonJS object without
 * that, which keeps `keybox run` and SDK start-up fast. Older Node 20 releases fall back to `require`.
 */
const load: (id: string) => unknown =
  typeof process.getBuiltinModule === 'function'
    ? (id) => process.getBuiltinModule(id)
    : (await import('node:module')).createRequire(import.meta.url);

export function loadHttp(): typeof Http {
  return load('node:http') as typeof Http;
}

export function loadHttps(): typeof Https {
  return load('node:https') as typeof Https;
}

export function loadFs(): typeof Fs {
  return load('node:fs') as typeof Fs;
}
