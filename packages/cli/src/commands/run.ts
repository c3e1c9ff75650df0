import {
  formatInjected,
  hasReferences,
  INJECTED_ENV_VAR,
  isKeyboxError,
  mergeFolders,
  type BulkFolder,
  type KeyboxClient,
} from '@keybox/sdk';
import { bool, int, parseCommand, str, strs, type CommandSpec } from '../args.js';
import { resolveContext, SCOPE_OPTIONS } from '../command-context.js';
import { openClient } from '../config/connection.js';
import { parseDuration } from '../duration.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { warn, writeStderr } from '../output/print.js';
import { cacheDir, openBundleCache } from '../run/bundle-cache.js';
import { buildChildEnv, MAX_ENV_STRING } from '../run/child-env.js';
import { execChild } from '../run/exec-child.js';
import { fetchScope, formatAge, type Source } from '../run/fetch-scope.js';
import type { PlanRow } from '../run/plan.js';
import { resolveCommand } from '../run/resolve-command.js';
import type { Generation } from '../run/watch-mode.js';
import type * as SecretFiles from '../run/secret-files.js';

export const spec: CommandSpec = {
  name: 'keybox run',
  usage: [
    'keybox run [options] -- CMD [ARGS...]',
    'keybox run [options] --command "SHELL STRING"',
    'keybox run [options] --dry-run',
  ],
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
    "keybox's own credential (KEYBOX_TOKEN, SECRETS_API_TOKEN, KEYBOX_CLIENT_SECRET and their _FILE forms) is",
    "removed from the child's environment unless --pass-credentials.",
    '',
    'When the server cannot be reached (after retrying for --retry-for), keybox uses the encrypted copy of the',
    'last successful fetch (~/.cache/keybox, readable only with the same token or client secret) and says how old',
    'it is, then --fallback-env-file. A 401, 403 or 404 from the server deletes the copy and fails.',
    'Values may refer to others: ${KEY}, ${env.KEY}, ${env./folder.KEY} ($${ for a literal ${); --no-expand.',
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
    'pass-credentials': {
      type: 'boolean',
      description: "keep keybox's own token or client secret in the child's environment (removed by default)",
    },
    'no-expand': { type: 'boolean', description: 'do not expand ${...} references in values' },
    'dry-run': {
      type: 'boolean',
      description: 'print what the child would get (names and sources, no values); run nothing',
    },
    json: { type: 'boolean', description: 'with --dry-run: the plan as JSON' },
    offline: { type: 'boolean', description: 'use only the cached copy; do not contact the server' },
    'no-cache': { type: 'boolean', description: 'neither read nor write the cached copy' },
    'cache-max-age': {
      type: 'string',
      value: 'DURATION',
      description: 'refuse a cached copy older than this (e.g. 24h)',
    },
    'retry-for': {
      type: 'string',
      value: 'DURATION',
      description: 'keep retrying an unreachable server this long (default 10s)',
    },
    'fallback-env-file': {
      type: 'string',
      value: 'FILE',
      description: 'dotenv file to use when neither server nor cache can',
    },
    timeout: { type: 'string', value: 'SECONDS', description: 'give up on one request after this long (default 30)' },
    watch: { type: 'boolean', short: 'w', description: 'restart the command when its secrets change' },
    grace: {
      type: 'string',
      value: 'DURATION',
      description: 'with --watch: time between SIGTERM and SIGKILL (default 10s)',
    },
    debounce: {
      type: 'string',
      value: 'DURATION',
      description: 'with --watch: wait this long for more changes (default 1s)',
    },
    mask: { type: 'boolean', description: "replace secret values in the command's output with *****" },
    'as-files': { type: 'boolean', description: 'put each secret in a 0600 file and set NAME_FILE instead of NAME' },
    quiet: { type: 'boolean', short: 'q', description: 'no warnings on stderr' },
  },
  positionals: true,
  examples: [
    'keybox run --project shop --env dev --path /backend -- node app.js',
    'keybox run --path /shared --path /backend --recursive -- ./start.sh',
    'keybox run --command "npm run migrate && npm start"',
    'keybox run --dry-run --path /backend',
  ],
};

function describeSource(source: Source): string | undefined {
  if (source.kind === 'cache')
    return `${source.reason}; using the cached copy last confirmed ${formatAge(source.ageMs)} ago`;
  if (source.kind === 'fallback') return `${source.reason}; using the local fallback file ${source.file}`;
  return undefined;
}

export async function run(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = (split === -1 ? argv : argv.slice(0, split)).map((a) =>
    a === '--preserve-env' ? '--preserve-env=*' : a,
  );
  const { values, positionals } = parseCommand(spec, own);
  const shell = str(values, 'command');
  const dryRun = bool(values, 'dry-run');
  let command = split === -1 ? [] : argv.slice(split + 1);
  if (positionals.length > 0) throw usageError('put the command after --', 'keybox run [options] -- CMD [ARGS...]');
  if (shell !== undefined) {
    if (command.length > 0) throw usageError('give either --command or a command after --, not both');
    command = ['/bin/sh', '-c', shell];
  }
  if (command.length === 0 && !dryRun) throw usageError('no command to run', 'keybox run [options] -- CMD [ARGS...]');
  const quiet = bool(values, 'quiet');
  const watching = bool(values, 'watch');
  const mask = bool(values, 'mask');
  const asFiles = bool(values, 'as-files');
  const graceFlag = str(values, 'grace');
  const graceSeconds = graceFlag === undefined ? 10 : parseDuration(graceFlag, 'grace');
  const debounceFlag = str(values, 'debounce');
  const debounceMs = debounceFlag === undefined ? 1000 : parseDuration(debounceFlag, 'debounce') * 1000;

  // Resolve the program first: PATH is never taken from secrets, so the answer cannot change, and a typo fails
  // without a round trip to the server.
  const resolved = command.length === 0 ? undefined : resolveCommand(command, process.env['PATH'], process.cwd());
  if (resolved !== undefined && !resolved.ok) {
    writeStderr(`keybox: ${resolved.message}\n`);
    return resolved.exitCode;
  }

  const { scope, connection } = resolveContext(values);
  const recursive = bool(values, 'recursive');
  const credential = connection.client?.secret ?? connection.token;
  const cacheMaxAge = str(values, 'cache-max-age');
  const retryFor = str(values, 'retry-for');
  const timeout = int(values, 'timeout');
  const timeoutMs = timeout === undefined ? undefined : timeout * 1000;
  const cache =
    bool(values, 'no-cache') || credential === undefined
      ? undefined
      : openBundleCache(
          cacheDir(process.env),
          { addr: connection.addr, ...scope, recursive },
          credential,
          (message) => {
            if (!quiet) warn(message);
          },
        );
  const fetched = await fetchScope({
    connection,
    scope,
    recursive,
    cache,
    offline: bool(values, 'offline'),
    cacheMaxAgeMs: cacheMaxAge === undefined ? undefined : parseDuration(cacheMaxAge, 'cache-max-age') * 1000,
    retryForMs: retryFor === undefined ? 10_000 : parseDuration(retryFor, 'retry-for') * 1000,
    timeoutMs,
    fallbackEnvFile: str(values, 'fallback-env-file'),
    skipFreshCopy: true,
  });
  const sourceNote = describeSource(fetched.source);
  if (sourceNote !== undefined && !quiet) warn(sourceNote);

  const prepare = async (folders: BulkFolder[], client: KeyboxClient | undefined) => {
    const merged = mergeFolders(folders);
    const raw = new Map([...merged.secrets].map(([name, s]) => [name, s.value]));
    // Most values hold no reference: the resolver is loaded only when one does (it is off the fast path).
    const expanded =
      bool(values, 'no-expand') || ![...raw.values()].some(hasReferences)
        ? raw
        : await (await import('../run/expand-scope.js')).expandScope(raw, scope.project, client);
    const secrets =
      expanded === raw
        ? merged.secrets
        : new Map([...merged.secrets].map(([name, s]) => [name, { ...s, value: expanded.get(name) ?? s.value }]));
    const preserveFlag = str(values, 'preserve-env');
    const child = buildChildEnv(process.env, secrets, {
      preserve:
        preserveFlag === undefined
          ? undefined
          : preserveFlag === '*' || preserveFlag === ''
            ? 'all'
            : new Set(preserveFlag.split(',').map((s) => s.trim())),
      allowDangerous: new Set(strs(values, 'allow-dangerous').flatMap((v) => v.split(',').map((s) => s.trim()))),
      passCredentials: bool(values, 'pass-credentials'),
    });
    if (child.blocked.length > 0 && !dryRun) {
      throw new CliError(
        'CONFIG_INVALID',
        `refusing to inject ${child.blocked.join(', ')}: it changes how the child loads code`,
        {
          hint: `if that is intended, pass --allow-dangerous ${child.blocked.join(',')}`,
        },
      );
    }
    // The injected names and their values, in one order: for the environment check, files, masking and watch.
    const injected = Object.keys(child.injected).map((name) => [name, secrets.get(name)?.value ?? ''] as const);
    return { merged, secrets, child, injected };
  };

  const first = await prepare(fetched.folders, fetched.client);

  if (dryRun) {
    const origin = fetched.source.kind === 'server' ? 'server' : fetched.source.kind;
    const rows: PlanRow[] = [...first.secrets].map(([name, s]) => ({
      name,
      source: origin,
      path: s.path,
      version: s.version,
      outcome: first.child.reserved.includes(name)
        ? 'reserved: not overwritten'
        : first.child.blocked.includes(name)
          ? 'refused: needs --allow-dangerous'
          : first.child.preserved.includes(name)
            ? 'inherited value kept (--preserve-env)'
            : asFiles
              ? 'file (NAME_FILE)'
              : 'injected',
    }));
    (await import('../run/plan.js')).printPlan(rows, first.merged.shadowed, bool(values, 'json'));
    return 0;
  }
  if (!quiet) {
    for (const s of first.merged.shadowed) {
      warn(`${s.name} is set in ${[...s.losers, s.winner].join(' and ')}; using ${s.winner}`);
    }
    if (first.child.reserved.length > 0) {
      warn(`not overwriting ${first.child.reserved.join(', ')} (reserved names are never taken from secrets)`);
    }
  }
  if (resolved === undefined) return 0;

  // Modules only the supervising modes need: loaded only for them, so a plain exec stays as light as it can be.
  let secretFiles: typeof SecretFiles | undefined;
  let filesDir: string | undefined;
  if (asFiles) {
    secretFiles = await import('../run/secret-files.js');
    const base = secretFiles.pickBaseDir(process.env);
    secretFiles.sweepStale(base.dir);
    if (!base.memoryBacked && !quiet) warn(`${base.dir} is not memory-backed: the secret files are on a disk`);
    filesDir = base.dir;
  }

  /** The child's full spec: environment (or secret files), KEYBOX_INJECTED, the values to mask. */
  const toGeneration = (p: Awaited<ReturnType<typeof prepare>>, etag: string | undefined): Generation => {
    const env = { ...p.child.env };
    let dispose: (() => void) | undefined;
    if (secretFiles !== undefined && filesDir !== undefined) {
      const files = secretFiles.writeSecretFiles(new Map(p.injected), { baseDirs: [filesDir] });
      for (const [name] of p.injected) delete env[name];
      Object.assign(env, files.env);
      dispose = () => files.remove();
    } else {
      // Inherited variables already passed the kernel's limit; only what keybox adds can exceed it.
      for (const [name, value] of p.injected) {
        if (Buffer.byteLength(name) + 1 + Buffer.byteLength(value) > MAX_ENV_STRING) {
          throw new CliError('CONFIG_INVALID', `${name} is too large for an environment variable (limit 128 KiB)`, {
            hint: 'use --as-files to pass it as a file',
          });
        }
      }
    }
    env[INJECTED_ENV_VAR] = formatInjected({ project: scope.project, env: scope.env, secrets: p.child.injected });
    const values = mask ? p.injected.map(([, value]) => value) : undefined;
    return { spec: { file: resolved.file, argv: resolved.argv, env, mask: values }, etag, dispose };
  };

  const firstGeneration = toGeneration(first, fetched.etag);
  if (mask && !quiet && process.getBuiltinModule('node:tty').isatty(1)) {
    warn('--mask sends the output through a pipe: programs may drop colours and buffer their output');
  }
  try {
    if (watching) {
      const request = { project: scope.project, env: scope.env, paths: scope.paths, recursive };
      let client = fetched.client;
      // What the child sees, to tell a change that matters from one that does not.
      const fingerprintOf = (p: Awaited<ReturnType<typeof prepare>>) => JSON.stringify(p.injected);
      let fingerprint = fingerprintOf(first);
      const connected = async (fresh = false) => {
        if (client === undefined || fresh) client = await openClient(connection, timeoutMs);
        return client;
      };
      // An identity's access token expires: on a 401, log in again once before giving up.
      const withLogin = async <T>(call: (c: KeyboxClient) => Promise<T>): Promise<T> => {
        try {
          return await call(await connected());
        } catch (error) {
          if (!isKeyboxError(error) || error.status !== 401 || connection.client === undefined) throw error;
          return call(await connected(true));
        }
      };
      const { superviseWatching } = await import('../run/watch-mode.js');
      const status = await superviseWatching({
        first: firstGeneration,
        watch: (etag) => withLogin((c) => c.watch(request, etag, 25)),
        refresh: async (etag) => {
          const result = await withLogin((c) => c.bulkRead(request, etag === undefined ? {} : { etag }));
          if (result.notModified) return { etag: result.etag };
          cache?.write({ folders: result.data.folders, etag: result.etag, verifiedAt: new Date().toISOString() });
          const next = await prepare(result.data.folders, client);
          if (fingerprintOf(next) === fingerprint) return { etag: result.etag };
          fingerprint = fingerprintOf(next);
          return { etag: result.etag, generation: toGeneration(next, result.etag) };
        },
        graceMs: graceSeconds * 1000,
        debounceMs: debounceMs,
        note: (line) => {
          if (!quiet) writeStderr(`keybox: ${line}\n`);
        },
      });
      // The long poll still holds a connection open; the child is gone (and its files with it): leave now.
      process.exit(status);
    }
    // As PID 1 the child would inherit the init role: no reaping, and SIGTERM ignored without a handler.
    if (bool(values, 'no-exec') || process.pid === 1 || mask || asFiles) {
      process.once('exit', () => firstGeneration.dispose?.());
      const { superviseChild } = await import('../run/supervise-child.js');
      try {
        return await superviseChild(firstGeneration.spec);
      } finally {
        firstGeneration.dispose?.();
      }
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES') {
      writeStderr(`keybox: ${command[0] ?? ''}: ${code === 'ENOENT' ? 'command not found' : 'cannot run'}\n`);
      return code === 'ENOENT' ? EXIT.notFound : EXIT.cannotExecute;
    }
    throw error;
  }
  execChild(resolved.file, resolved.argv, firstGeneration.spec.env);
}
