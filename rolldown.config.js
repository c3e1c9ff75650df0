import { defineConfig } from 'rolldown';

/*
 * The CLI as one file (packages/cli/dist/keybox.js), built from tsc's output. `keybox run` is a start-up cost on every
 * process start; the ES-module loader resolving and reading ~25 separate files cost ~8 ms of it, more than the
 * request. One file, compile-cached by Node, loads in a fraction of that. The server, and the packages only some
 * commands need (yaml, dotenv), stay outside and load on demand.
 */
export default defineConfig({
  input: 'packages/cli/dist/cli.js',
  platform: 'node',
  external: [/^node:/, '@keybox/server', 'yaml', 'dotenv'],
  output: {
    file: 'packages/cli/dist/keybox.js',
    format: 'esm',
    codeSplitting: false,
  },
});
