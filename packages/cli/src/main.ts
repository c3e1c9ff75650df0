import type * as Cli from './cli.js';

/*
 * Entry point. Kept free of runtime imports (the type import above is erased) and of syntax newer than Node 20 can parse, so that
 * on a too-old runtime it can still say what to install instead of failing with a stack trace.
 */
const MIN = [22, 15] as const;
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(
    `keybox: error: Node.js ${MIN.join('.')} or newer is required; this is ${process.version} (${process.execPath}).\n` +
      'hint: install Node.js 24 LTS (https://nodejs.org), or use keybox from its repository, where `npm ci` installs\n' +
      '      a pinned Node 24 into node_modules/.bin that the keybox launcher picks up.\n',
  );
  process.exit(process.argv[2] === 'run' ? 125 : 1);
}
// Caches compiled code between runs: part of keeping `keybox run` close to a bare Node start.
// (process.getBuiltinModule rather than an import: see config/project-file.ts.)
process.getBuiltinModule?.('node:module').enableCompileCache?.();

// keybox.js is cli.js and everything it loads in one file (see rolldown.config.js): the fast way in.
const bundle = './keybox.js';
const { main } = (await import(bundle)) as typeof Cli;
await main(process.argv.slice(2));
