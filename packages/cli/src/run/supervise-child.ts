import type { ChildProcess, spawn as Spawn } from 'node:child_process';
import { createMasker } from './mask-stream.js';

// Builtins come from process.getBuiltinModule (see config/project-file.ts), and only when a child is supervised:
// the CLI is one bundle, and loading node:child_process costs ~1.3 ms that a plain exec does not need.
const builtin = {
  spawn: (...args: Parameters<typeof Spawn>) => process.getBuiltinModule('node:child_process').spawn(...args),
  signals: () => process.getBuiltinModule('node:os').constants.signals,
  isatty: (fd: number) => process.getBuiltinModule('node:tty').isatty(fd),
};

export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

export interface ChildSpec {
  file: string;
  argv: readonly string[];
  env: Record<string, string>;
  /** `--mask`: values to replace with ***** in the child's stdout and stderr. */
  mask?: readonly string[] | undefined;
}

export interface RunningChild {
  pid: number | undefined;
  /** The exit status, or 128+N when signal N ended it; after its output (masked) has been written out. */
  exited: Promise<number>;
  signal(signal: NodeJS.Signals): void;
}

/**
 * When stdin is a terminal the child shares our process group, so the terminal already delivers Ctrl-C / Ctrl-\ to
 * both of us: SIGINT and SIGQUIT are then not forwarded again. Otherwise the child gets its own process group, and
 * every signal goes to the whole group, so grandchildren stop with it.
 */
export function childGetsOwnGroup(): boolean {
  return !builtin.isatty(0);
}

export function startChild(spec: ChildSpec, ownGroup: boolean): RunningChild {
  const [argv0, ...args] = spec.argv;
  const masked = spec.mask !== undefined;
  const child: ChildProcess = builtin.spawn(spec.file, args, {
    argv0: argv0 ?? spec.file,
    env: spec.env,
    stdio: masked ? ['inherit', 'pipe', 'pipe'] : 'inherit',
    detached: ownGroup,
  });
  if (masked) {
    for (const [from, to] of [
      [child.stdout, process.stdout],
      [child.stderr, process.stderr],
    ] as const) {
      if (from === null) continue;
      from.pipe(createMasker(spec.mask ?? [])).pipe(to, { end: false });
      // Our reader went away (`keybox run --mask -- yes | head -1`): close the child's pipe so it gets EPIPE or
      // SIGPIPE itself, as it would without keybox, instead of keybox dying of an unhandled error.
      to.once('error', () => from.destroy());
    }
  }
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    // With pipes, 'close' comes after the last output: wait for it so nothing is cut off.
    child.once(masked ? 'close' : 'exit', (code: number | null, signal: NodeJS.Signals | null) => {
      resolve(signal !== null ? 128 + (builtin.signals()[signal] ?? 0) : (code ?? 0));
    });
  });
  return {
    pid: child.pid,
    exited,
    signal(signal) {
      if (child.pid === undefined) return;
      try {
        process.kill(ownGroup ? -child.pid : child.pid, signal);
      } catch {
        // Already gone; its exit is on its way.
      }
    },
  };
}

/**
 * Forwards signals to whichever child is current. Installed before the first child starts: a SIGTERM that arrives
 * while it starts must reach it, not kill keybox and orphan it (a signal is handled on a later event-loop turn).
 * Returns the uninstaller.
 */
export function forwardSignals(current: () => RunningChild | undefined, ownGroup: boolean): () => void {
  const handlers = new Map<string, () => void>();
  for (const signal of FORWARDED_SIGNALS) {
    const handler = () => {
      if (!ownGroup && (signal === 'SIGINT' || signal === 'SIGQUIT')) return;
      current()?.signal(signal);
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/**
 * Starts the child and stays as its supervisor (`--no-exec`, `--mask`, `--as-files`, and as PID 1 where exec would
 * leave the app without a reaper). Resolves with the child's exit status, or 128+N when signal N killed it.
 */
export async function superviseChild(spec: ChildSpec): Promise<number> {
  const ownGroup = childGetsOwnGroup();
  let current: RunningChild | undefined;
  const uninstall = forwardSignals(() => current, ownGroup);
  try {
    current = startChild(spec, ownGroup);
    return await current.exited;
  } finally {
    uninstall();
  }
}
