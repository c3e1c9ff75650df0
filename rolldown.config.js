import { defineConfig } from 'rolldown';

/*
 * Two bundles, built from tsc's output.
 *
 * The CLI as one file (packages/cli/dist/keybox.js). `keybox run` is a start-up cost on every process start; the
 * ES-module loader resolving and reading ~25 separate files cost ~8 ms of it, more than the request. One file,
 * compile-cached by Node, loads in a fraction of that. The server, and the packages only some commands need (yaml,
 * dotenv), stay outside and load on demand.
 *
 * The server as one file (packages/server/dist/keybox-server.js, what `@keybox/server` resolves to), dependencies
 * included: loading hundreds of small modules of zod, Kysely, Hono and pino cost ~20 MiB of resident memory and
 * ~170 ms of start-up over one file (measured: idle RSS 101 -> 79 MiB, start 280 -> 110 ms). Not minified, so stack
 * traces in the server's log stay readable; minifying saved only 2 MiB more. The PostgreSQL client (pg) stays
 * outside and is imported only by a server started with --db postgres://: in the file, even unused, it cost the
 * embedded-store server ~1 MiB of resident memory.
 */
export default defineConfig([
  {
    input: 'packages/cli/dist/cli.js',
    platform: 'node',
    external: [/^node:/, '@keybox/server', 'yaml', 'dotenv'],
    output: {
      file: 'packages/cli/dist/keybox.js',
      format: 'esm',
      codeSplitting: false,
    },
  },
  {
    input: 'packages/server/dist/index.js',
    platform: 'node',
    external: [/^node:/, 'pg'],
    output: {
      file: 'packages/server/dist/keybox-server.js',
      format: 'esm',
      codeSplitting: false,
    },
  },
]);
