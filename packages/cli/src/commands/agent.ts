import {
  hasReferences,
  isKeyboxError,
  isTransient,
  mergeFolders,
  type BulkFolder,
  type KeyboxClient,
} from '@keybox/sdk';
import type { ChildProcess } from 'node:child_process';
import { bool, int, parseCommand, str, strs, type CommandSpec } from '../args.js';
import { resolveContext, SCOPE_OPTIONS } from '../command-context.js';
import { openClient } from '../config/connection.js';
import { parseDuration } from '../duration.js';
import { CliError, usageError } from '../errors.js';
import { writeStderr } from '../output/print.js';
import { watchAndRender, type AgentEvent } from '../agent/agent-loop.js';
import {
  checkFileParent,
  parseGroup,
  parseMode,
  prepareDir,
  SecretDirectory,
  SecretFile,
  sweepTempFiles,
  type FileOptions,
} from '../agent/render-files.js';
import { cacheDir, openBundleCache } from '../run/bundle-cache.js';
import { CREDENTIAL_NAMES } from '../run/child-env.js';
import { fetchScope, formatAge, type Fetched, type Source } from '../run/fetch-scope.js';
import { formatScope, isFormat, FORMATS, type Format } from '../secrets/scope-formats.js';

export const spec: CommandSpec = {
  name: 'keybox agent',
  usage: ['keybox agent --dir DIR [options]', 'keybox agent --file FILE [--format F] [options]'],
  summary: 'Write the secrets of a scope to files, and keep them current (for apps that read NAME_FILE).',
  details: [
    '--dir DIR: one file per secret, DIR/NAME holding the value exactly (no newline added). Point the app at it',
    'with NAME_FILE=DIR/NAME (the Keybox SDK, and many images, read NAME_FILE). --file FILE: the whole scope in one',
    'file, as dotenv, json, yaml or shell (--format, or from the extension). Both may be given, --file several times.',
    '',
    'Every file is written to a temp file created with its final mode (0600 unless --mode; never readable by',
    'others) and renamed into place: readers see the old or the new content, never half. Unchanged files are not',
    'rewritten; a secret that leaves the scope has its file removed (only files the agent wrote: see',
    'DIR/.keybox-agent.json). Files deleted or replaced by someone else are written again within ~25 s.',
    '',
    'The agent then waits for changes (a long poll on the server), renders them after --debounce, and runs',
    '--exec after every render that changed something, the first one included. The hook gets KEYBOX_AGENT_CHANGED',
    "(the names that changed, comma-separated) and none of the agent's own credentials. SIGHUP: fetch and render",
    'now. SIGTERM/SIGINT: stop (exit 0), removing the files with --remove-on-exit.',
    '',
    'When the server cannot be reached at start, the encrypted copy of the last fetch is rendered (see keybox run)',
    'and the agent keeps trying; with --once it gives up after --retry-for. A change is never rendered from the',
    'copy. If the server refuses the credential later, the files keep their last values and the agent retries.',
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
    dir: { type: 'string', short: 'd', value: 'DIR', description: 'write each secret to DIR/NAME' },
    file: {
      type: 'string',
      multiple: true,
      value: 'FILE',
      description: 'write the whole scope to FILE (format from --format or the extension)',
    },
    format: {
      type: 'string',
      short: 'f',
      value: 'FORMAT',
      description: `format of --file: ${FORMATS.join(', ')} (default: from the extension)`,
    },
    mode: {
      type: 'string',
      value: 'MODE',
      description: 'permission bits of the files (default 0600; e.g. 0400, 0640)',
    },
    group: { type: 'string', value: 'GROUP', description: "the files' group (name or gid), with --mode 0640 or 0440" },
    once: { type: 'boolean', description: 'render once and exit (an init container, a deploy step)' },
    exec: {
      type: 'string',
      value: '"SHELL STRING"',
      description: 'run after each render that changed something (with /bin/sh -c)',
    },
    'exec-timeout': {
      type: 'string',
      value: 'DURATION',
      description: 'stop a hook still running after this long (default 30s)',
    },
    debounce: {
      type: 'string',
      value: 'DURATION',
      description: 'wait this long for more changes before rendering (default 1s)',
    },
    'remove-on-exit': { type: 'boolean', description: 'delete the files when the agent stops' },
    'no-expand': { type: 'boolean', description: 'do not expand ${...} references in values' },
    'no-cache': { type: 'boolean', description: 'neither read nor write the encrypted copy of the last fetch' },
    'cache-max-age': {
      type: 'string',
      value: 'DURATION',
      description: 'refuse a cached copy older than this (e.g. 24h)',
    },
    'retry-for': {
      type: 'string',
      value: 'DURATION',
      description: 'with --once: keep retrying an unreachable server this long (default 10s)',
    },
    timeout: { type: 'string', value: 'SECONDS', description: 'give up on one request after this long (default 30)' },
    json: { type: 'boolean', description: 'report each render, hook and error as a JSON line on stdout' },
    quiet: { type: 'boolean', short: 'q', description: 'report only errors' },
  },
  examples: [
    'keybox agent --project shop --env prod --path /backend --dir /run/keybox',
    'keybox agent --path /backend --file /run/app/app.env --exec "systemctl reload app"',
    'keybox agent --path /backend --dir /run/keybox --group app --mode 0640 --once',
  ],
};

const EXTENSIONS: Record<string, Format> = {
  '.env': 'dotenv',
  '.json': 'json',
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.sh': 'shell',
};

function formatOf(file: string, flag: string | undefined): Format {
  if (flag !== undefined) {
    if (!isFormat(flag)) throw usageError(`--format must be one of ${FORMATS.join(', ')}`);
    return flag;
  }
  const base = file.slice(file.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  const byExtension = EXTENSIONS[dot === -1 ? base : base.slice(dot)] ?? (base === '.env' ? 'dotenv' : undefined);
  if (byExtension === undefined) {
    throw usageError(`cannot tell the format of ${file} from its name`, `add --format ${FORMATS.join('|')}`);
  }
  return byExtension;
}

function describeSource(source: Source): string {
  if (source.kind === 'cache') return `the cached copy last confirmed ${formatAge(source.ageMs)} ago`;
  if (source.kind === 'fallback') return `the fallback file ${source.file}`;
  return 'the server';
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  const dirFlag = str(values, 'dir');
  const fileFlags = strs(values, 'file');
  if (dirFlag === undefined && fileFlags.length === 0) {
    throw usageError('say where to write: --dir DIR, --file FILE, or both', 'keybox agent --dir /run/keybox');
  }
  const formatFlag = str(values, 'format');
  if (formatFlag !== undefined && fileFlags.length === 0) throw usageError('--format applies to --file');
  const modeFlag = str(values, 'mode');
  const groupFlag = str(values, 'group');
  const fileOptions: FileOptions = {
    mode: modeFlag === undefined ? 0o600 : parseMode(modeFlag),
    gid: groupFlag === undefined ? undefined : parseGroup(groupFlag),
  };
  const once = bool(values, 'once');
  const json = bool(values, 'json');
  const quiet = bool(values, 'quiet');
  const hook = str(values, 'exec');
  const hookTimeoutFlag = str(values, 'exec-timeout');
  const hookTimeoutMs = (hookTimeoutFlag === undefined ? 30 : parseDuration(hookTimeoutFlag, 'exec-timeout')) * 1000;
  const debounceFlag = str(values, 'debounce');
  const debounceMs = debounceFlag === undefined ? 1000 : parseDuration(debounceFlag, 'debounce') * 1000;
  const cacheMaxAge = str(values, 'cache-max-age');
  const retryFor = str(values, 'retry-for');
  const timeout = int(values, 'timeout');
  const timeoutMs = timeout === undefined ? undefined : timeout * 1000;
  const expand = !bool(values, 'no-expand');
  const files = fileFlags.map((f) => ({ format: formatOf(f, formatFlag), target: new SecretFile(f, fileOptions) }));

  // Every target is checked before the server is asked anything: a typo in --dir fails at once.
  const directory = dirFlag === undefined ? undefined : new SecretDirectory(dirFlag, fileOptions);
  if (directory !== undefined) {
    prepareDir(directory.dir, fileOptions);
    sweepTempFiles(directory.dir);
  }
  for (const { target } of files) checkFileParent(target.file);

  const say = (line: string) => {
    if (!quiet && !json) writeStderr(`keybox agent: ${line}\n`);
  };
  const report = (event: Record<string, unknown> & { event: string }) => {
    if (json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  };
  const reportLoop = (event: AgentEvent) => {
    report(event);
    if (event.event === 'error') {
      if (!json) writeStderr(`keybox agent: ${event.message} [${event.code}]; retrying in ${event.retryInSeconds} s\n`);
    } else if (event.event === 'repaired') {
      say(`wrote again ${event.names.join(', ')}: deleted or replaced by someone else`);
    } else {
      say('the server answers again');
    }
  };

  const resolved = resolveContext(values);
  const scope = resolved.scope;
  // The audit log tells the agent's reads from interactive ones by this.
  const connection = { ...resolved.connection, userAgent: 'keybox-agent/0.1.0' };
  const recursive = bool(values, 'recursive');
  const request = { project: scope.project, env: scope.env, paths: scope.paths, recursive };
  const credential = connection.client?.secret ?? connection.token;
  const cache =
    bool(values, 'no-cache') || credential === undefined
      ? undefined
      : openBundleCache(cacheDir(process.env), { addr: connection.addr, ...scope, recursive }, credential, (m) =>
          say(m),
        );

  let client: KeyboxClient | undefined;
  const connected = async (fresh = false) => {
    if (client === undefined || fresh) client = await openClient(connection, timeoutMs);
    return client;
  };
  // An identity's access token expires: on a 401, log in again once before giving up.
  const call = async <T>(use: (c: KeyboxClient) => Promise<T>): Promise<T> => {
    try {
      return await use(await connected());
    } catch (error) {
      if (!isKeyboxError(error) || error.status !== 401 || connection.client === undefined) throw error;
      return use(await connected(true));
    }
  };

  // Hooks run one at a time, each after the render that asked for it.
  const runHook = hook === undefined ? undefined : hookRunner(hook, hookTimeoutMs, json, report, say);
  let rendered = false;
  let lastSecrets = new Map<string, string>();
  const texts = async (secrets: ReadonlyMap<string, string>) =>
    Promise.all(files.map(async (f) => ({ ...f, text: await formatScope(secrets, f.format) })));

  const render = async (folders: BulkFolder[], source: Source) => {
    const merged = mergeFolders(folders);
    if (!rendered) {
      for (const s of merged.shadowed) {
        say(`${s.name} is set in ${[...s.losers, s.winner].join(' and ')}; using ${s.winner}`);
      }
    }
    const raw = new Map([...merged.secrets].map(([name, s]) => [name, s.value]));
    const secrets =
      expand && [...raw.values()].some(hasReferences)
        ? await (
            await import('../run/expand-scope.js')
          ).expandScope(raw, scope.project, source.kind === 'server' ? await connected() : undefined)
        : raw;
    // Every text is made before any file is written: a value dotenv cannot carry fails the render, not half of it.
    const formatted = await texts(secrets);
    const outcome = directory?.render(secrets) ?? { written: [], removed: [], unchanged: 0 };
    const changedFiles = formatted.filter(({ target, text }) => target.render(text)).map(({ target }) => target.file);
    const changed = [...outcome.written, ...outcome.removed];
    if (changedFiles.length > 0) {
      // A format file changes as a whole: name what differs from the last render.
      for (const [name, value] of secrets) if (lastSecrets.get(name) !== value) changed.push(name);
      for (const name of lastSecrets.keys()) if (!secrets.has(name)) changed.push(name);
    }
    const names = [...new Set(changed)].sort();
    const first = !rendered;
    rendered = true;
    lastSecrets = new Map(secrets);
    report({
      event: 'render',
      source: source.kind,
      ...(source.kind === 'cache' ? { ageSeconds: Math.round(source.ageMs / 1000) } : {}),
      secrets: secrets.size,
      written: outcome.written,
      removed: outcome.removed,
      files: changedFiles,
    });
    if (names.length > 0 || first) {
      const where = [directory?.dir, ...files.map((f) => f.target.file)].filter((w) => w !== undefined).join(', ');
      say(
        first
          ? `rendered ${secrets.size} secret(s) from ${describeSource(source)} to ${where}`
          : `rendered ${names.length} change(s) (${names.join(', ')}) to ${where}`,
      );
    }
    if (runHook !== undefined && (names.length > 0 || first)) await runHook(first ? [...secrets.keys()].sort() : names);
  };
  const repair = async () => {
    const names = [...(directory?.tampered() ?? [])];
    const brokenFiles = files.filter((f) => f.target.tampered());
    if (names.length === 0 && brokenFiles.length === 0) return [];
    if (names.length > 0) directory?.render(lastSecrets);
    for (const { target, text } of await texts(lastSecrets))
      if (brokenFiles.some((b) => b.target === target)) target.render(text);
    return [...names, ...brokenFiles.map((f) => f.target.file)];
  };

  const removeOnExit = bool(values, 'remove-on-exit');
  const cleanUp = () => {
    if (!removeOnExit) return;
    directory?.removeAll();
    for (const { target } of files) target.removeAll();
  };
  const stop = (signal: NodeJS.Signals) => {
    cleanUp();
    report({ event: 'stop', signal });
    say(`stopped (${signal})`);
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // A SIGHUP before the watch loop is listening (during the first render) is kept for it, not lost.
  let hangupWaiter: (() => void) | undefined;
  let hangupPending = false;
  process.on('SIGHUP', () => {
    say('SIGHUP: fetching and rendering now');
    if (hangupWaiter === undefined) hangupPending = true;
    hangupWaiter?.();
    hangupWaiter = undefined;
  });
  const hangups = () =>
    new Promise<void>((resolve) => {
      if (hangupPending) {
        hangupPending = false;
        resolve();
      } else {
        hangupWaiter = resolve;
      }
    });

  // The first render: from the server, else the encrypted last-known-good copy. Without --once an unreachable
  // server with no usable copy is waited for (the app is waiting for its files too).
  let fetched: Fetched;
  for (let attempt = 1; ; attempt++) {
    try {
      fetched = await fetchScope({
        connection,
        scope,
        recursive,
        cache,
        offline: false,
        cacheMaxAgeMs: cacheMaxAge === undefined ? undefined : parseDuration(cacheMaxAge, 'cache-max-age') * 1000,
        retryForMs: retryFor === undefined ? 10_000 : parseDuration(retryFor, 'retry-for') * 1000,
        timeoutMs,
        fallbackEnvFile: undefined,
      });
      break;
    } catch (error) {
      if (once || !(isTransient(error) || (error instanceof CliError && error.code === 'UNREACHABLE'))) throw error;
      const wait = Math.min(30, 2 ** Math.min(attempt, 5));
      reportLoop({
        event: 'error',
        code: error instanceof CliError || isKeyboxError(error) ? error.code : 'UNREACHABLE',
        message: `${(error as Error).message}; nothing rendered yet`,
        retryInSeconds: wait,
      });
      await new Promise((r) => setTimeout(r, wait * 1000));
    }
  }
  if (fetched.source.kind === 'cache') say(`${fetched.source.reason}; rendering the cached copy`);
  client = fetched.client;
  await render(fetched.folders, fetched.source);
  if (once) {
    await runHook?.idle();
    return 0;
  }
  await watchAndRender({
    scope: request,
    etag: fetched.etag,
    call,
    render,
    repair,
    remember: (folders, etag) => cache?.write({ folders, etag, verifiedAt: new Date().toISOString() }),
    forget: () => cache?.remove(),
    debounceMs,
    report: reportLoop,
    hangups,
  });
  return 0;
}

interface HookRunner {
  (names: string[]): Promise<void>;
  /** Resolves once no hook is running or queued. */
  idle(): Promise<void>;
}

/**
 * The `--exec` hook: `/bin/sh -c STRING`, its output on the agent's (stderr when stdout carries --json), with the
 * agent's environment minus its credentials, plus KEYBOX_AGENT_CHANGED. A hook still running after `timeoutMs` is
 * sent SIGTERM, then SIGKILL 5 s later. Never throws: a failing hook is reported and the agent goes on.
 */
function hookRunner(
  command: string,
  timeoutMs: number,
  json: boolean,
  report: (event: Record<string, unknown> & { event: string }) => void,
  say: (line: string) => void,
): HookRunner {
  let queue: Promise<void> = Promise.resolve();
  const runOnce = (names: string[]) =>
    new Promise<void>((resolve) => {
      const env: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
      for (const name of CREDENTIAL_NAMES) delete env[name];
      env['KEYBOX_AGENT_CHANGED'] = names.join(',');
      const started = Date.now();
      let child: ChildProcess;
      try {
        child = process.getBuiltinModule('node:child_process').spawn('/bin/sh', ['-c', command], {
          env,
          stdio: json ? ['ignore', 2, 2] : ['ignore', 'inherit', 'inherit'],
          detached: true,
        });
      } catch (error) {
        report({ event: 'hook', status: null, error: (error as Error).message });
        writeStderr(`keybox agent: the hook could not start (${(error as Error).message})\n`);
        resolve();
        return;
      }
      let killer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        writeStderr(`keybox agent: the hook ran past ${timeoutMs / 1000} s: SIGTERM\n`);
        signalGroup(child, 'SIGTERM');
        killer = setTimeout(() => signalGroup(child, 'SIGKILL'), 5000);
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        report({ event: 'hook', status: null, error: error.message });
        writeStderr(`keybox agent: the hook could not start (${error.message})\n`);
        resolve();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (killer !== undefined) clearTimeout(killer);
        const status =
          code ?? 128 + (signal === null ? 0 : process.getBuiltinModule('node:os').constants.signals[signal]);
        report({ event: 'hook', status, ms: Date.now() - started, changed: names });
        if (status !== 0) writeStderr(`keybox agent: the hook exited with status ${status}\n`);
        else say(`hook done (${Date.now() - started} ms)`);
        resolve();
      });
    });
  const runner = ((names: string[]) => {
    queue = queue.then(() => runOnce(names));
    return queue;
  }) as HookRunner;
  runner.idle = () => queue;
  return runner;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // Gone already.
  }
}
