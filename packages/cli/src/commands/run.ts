import { formatInjected, INJECTED_ENV_VAR, mergeFolders } from '@keybox/sdk';
import { bool, int, parseCommand, str, strs, type CommandSpec } from '../args.js';
import { scopedContext, SCOPE_OPTIONS } from '../command-context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { warn, writeStderr } from '../output/print.js';
import { buildChildEnv, MAX_ENV_STRING } from '../run/child-env.js';
import { execChild } from '../run/exec-child.js';
import { resolveCommand } from '../run/resolve-command.js';
import { superviseChild } from '../run/supervise-child.js';

export const spec: CommandSpec = {
  name: 'keybox run',
  usage: ['keybox run [options] -- CMD [ARGS...]', 'keybox run [options] --command "SHELL STRING"'],
  summary: 'Fetch the secrets of a folder and start CMD with them in its environment.',
  details: [
    "The child's stdin, stdout and stderr are its own; keybox writes only to stderr, and only warnings.",
    "By default keybox replaces itself with the child (exec): the exit status and signals are the child's own.",
    'With --no-exec (and as PID 1) it supervises instead: it forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1',
    "and SIGUSR2, and exits with the child's status, or 128+N when signal N killed it.",
    'Exit 125: keybox itself failed (server unreachable, token rejected...); 126: CMD cannot run; 127: not found.',
    '',
    'Secrets override inherited variables unless --preserve-env; PATH, HOME, KEYBOX_* and similar are never',
    'overwritten; LD_PRELOAD, NODE_OPTIONS and other code-loading variables need --allow-dangerous NAME.',
    'The child also gets KEYBOX_INJECTED: the injected names with their folder and version, never values.',
  ],
  options: {
    ...SCOPE_OPTIONS,
    path: {
      type: 'string',
      multiple: true,
      value: '/PATH',
      description: 'folder path; a later --path wins on a clash',
    },
    recursive: { type: 'boolean', short: 'r', description: 'include sub-folders (the deeper folder wins on a clash)' },
    command: { type: 'string', short: 'c', value: '"STRING"', description: 'run a shell command line with /bin/sh -c' },
    'preserve-env': {
      type: 'string',
      value: '[=A,B]',
      description: 'keep inherited values over secrets: all, or only the names listed',
    },
    'allow-dangerous': {
      type: 'string',
      multiple: true,
      value: 'NAME[,NAME]',
      description: 'allow injecting a code-loading variable such as NODE_OPTIONS',
    },
    'no-exec': { type: 'boolean', description: 'start the child as a subprocess and supervise it' },
    timeout: { type: 'string', value: 'SECONDS', description: 'give up on the server after this long (default 30)' },
    quiet: { type: 'boolean', short: 'q', description: 'no warnings on stderr' },
  },
  positionals: true,
  examples: [
    'keybox run --project shop --env dev --path /backend -- node app.js',
    'keybox run --path /shared --path /backend --recursive -- ./start.sh',
    'keybox run --command "npm run migrate && npm start"',
  ],
};

export async function run(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = (split === -1 ? argv : argv.slice(0, split)).map((a) =>
    a === '--preserve-env' ? '--preserve-env=*' : a,
  );
  const { values, positionals } = parseCommand(spec, own);
  const shell = str(values, 'command');
  let command = split === -1 ? [] : argv.slice(split + 1);
  if (positionals.length > 0) {
    throw usageError('put the command after --', 'keybox run [options] -- CMD [ARGS...]');
  }
  if (shell !== undefined) {
    if (command.length > 0) throw usageError('give either --command or a command after --, not both');
    command = ['/bin/sh', '-c', shell];
  }
  if (command.length === 0) throw usageError('no command to run', 'keybox run [options] -- CMD [ARGS...]');
  const timeout = int(values, 'timeout');
  const quiet = bool(values, 'quiet');

  // Resolve the program first: PATH is never taken from secrets, so the answer cannot change, and a typo fails
  // without a round trip to the server.
  const resolved = resolveCommand(command, process.env['PATH'], process.cwd());
  if (!resolved.ok) {
    writeStderr(`keybox: ${resolved.message}\n`);
    return resolved.exitCode;
  }

  const { scope, client } = await scopedContext(values, timeout === undefined ? {} : { timeoutMs: timeout * 1000 });
  const fetched = await client.bulkRead({
    project: scope.project,
    env: scope.env,
    paths: scope.paths,
    recursive: bool(values, 'recursive'),
  });
  if (fetched.notModified) throw new CliError('BAD_RESPONSE', 'the server answered 304 to an unconditional read');

  const merged = mergeFolders(fetched.data.folders);
  const preserveFlag = str(values, 'preserve-env');
  const child = buildChildEnv(process.env, merged.secrets, {
    preserve:
      preserveFlag === undefined
        ? undefined
        : preserveFlag === '*' || preserveFlag === ''
          ? 'all'
          : new Set(preserveFlag.split(',').map((s) => s.trim())),
    allowDangerous: new Set(strs(values, 'allow-dangerous').flatMap((v) => v.split(',').map((s) => s.trim()))),
  });
  if (child.blocked.length > 0) {
    throw new CliError(
      'CONFIG_INVALID',
      `refusing to inject ${child.blocked.join(', ')}: it changes how the child loads code`,
      { hint: `if that is intended, pass --allow-dangerous ${child.blocked.join(',')}` },
    );
  }
  if (!quiet) {
    for (const s of merged.shadowed) {
      warn(`${s.name} is set in ${[...s.losers, s.winner].join(' and ')}; using ${s.winner}`);
    }
    if (child.reserved.length > 0) {
      warn(`not overwriting ${child.reserved.join(', ')} (reserved names are never taken from secrets)`);
    }
  }
  for (const [name, value] of Object.entries(child.env)) {
    if (Buffer.byteLength(name) + 1 + Buffer.byteLength(value) > MAX_ENV_STRING) {
      throw new CliError('CONFIG_INVALID', `${name} is too large for an environment variable (limit 128 KiB)`);
    }
  }
  child.env[INJECTED_ENV_VAR] = formatInjected({ project: scope.project, env: scope.env, secrets: child.injected });

  // As PID 1 the child would inherit the init role: no reaping, and SIGTERM ignored without a handler.
  if (bool(values, 'no-exec') || process.pid === 1) {
    try {
      return await superviseChild(resolved.file, resolved.argv, child.env);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      writeStderr(`keybox: ${command[0] ?? ''}: ${code === 'ENOENT' ? 'command not found' : 'cannot run'}\n`);
      return code === 'ENOENT' ? EXIT.notFound : EXIT.cannotExecute;
    }
  }
  execChild(resolved.file, resolved.argv, child.env);
}
