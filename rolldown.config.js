import { readFileSync } from 'node:fs';
import { defineConfig } from 'rolldown';

const WEB = 'packages/server/src/web/app';

/** The UI's stylesheet and icon go beside its script as they are (hand-written, small: no CSS tool needed). */
const webAssets = {
  name: 'keybox-web-assets',
  generateBundle() {
    for (const name of ['app.css', 'favicon.svg']) {
      this.emitFile({ type: 'asset', fileName: name, source: readFileSync(`${WEB}/${name}`) });
    }
  },
};

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
 * traces in the server's log stay readable; minifying saved only 2 MiB more. The PostgreSQL store is a chunk of
 * its own and the PostgreSQL client (pg) stays outside, both imported only by a server started with
 * --db postgres://: in the one file, even unused, they cost the embedded-store server ~0.5-1.5 MiB of resident
 * memory (idle RSS over bare Node went from 24.7 to 25.4 MiB, past its 25 MiB bar). The HTTP framework's node
 * adapter is a chunk of its own too (keybox-server-http.js), imported with the first request that reaches the
 * framework (see src/http/listener.ts).
 *
 * The web UI (packages/server/dist/web-ui/app.js, served by the server at /): Preact and the pages, built from the
 * TypeScript sources directly, minified, for the browser. The server only reads these files when a browser asks.
 */
/*
 * The Node bundles are printed without comments (legal ones aside) and with every character outside ASCII escaped:
 * V8 keeps each script's source in memory, and one non-ASCII character anywhere (a dash in a comment) makes it a
 * two-byte string, twice the size (the server bundle took 1.4 MB of heap for its 0.7 MB of source). Nothing is
 * renamed or removed and the code stays printed one statement a line, indented: stack traces stay readable.
 */
const ASCII = {
  minify: { compress: false, mangle: false, codegen: { removeWhitespace: false, asciiOnly: true } },
  comments: { legal: true, annotation: false, jsdoc: false },
};

export default defineConfig([
  {
    input: 'packages/cli/dist/cli.js',
    platform: 'node',
    external: [/^node:/, '@keybox/server', 'yaml', 'dotenv'],
    output: {
      file: 'packages/cli/dist/keybox.js',
      format: 'esm',
      codeSplitting: false,
      ...ASCII,
    },
  },
  {
    input: 'packages/server/dist/index.js',
    platform: 'node',
    external: [/^node:/, 'pg'],
    output: {
      dir: 'packages/server/dist',
      entryFileNames: 'keybox-server.js',
      // The PostgreSQL store (imported only for --db postgres://) in a file of its own, loaded on demand; what both it
      // and the entry use goes to a common file the entry loads.
      chunkFileNames: (chunk) =>
        chunk.isDynamicEntry
          ? chunk.facadeModuleId?.includes('@hono') === true
            ? 'keybox-server-http.js'
            : 'keybox-server-postgres.js'
          : chunk.name === 'rolldown-runtime'
            ? 'keybox-server-runtime.js'
            : 'keybox-server-common.js',
      format: 'esm',
      ...ASCII,
    },
  },
  {
    input: `${WEB}/main.tsx`,
    platform: 'browser',
    tsconfig: `${WEB}/tsconfig.json`,
    plugins: [webAssets],
    output: {
      file: 'packages/server/dist/web-ui/app.js',
      format: 'esm',
      minify: true,
      codeSplitting: false,
    },
  },
]);
