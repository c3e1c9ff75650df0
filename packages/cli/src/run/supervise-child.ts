// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const { spawn } = process.getBuiltinModule('node:child_process');
const { constants } = process.getBuiltinModule('node:os');
const { isatty } = process.getBuiltinModule('node:tty');

export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * Starts the child and stays as its supervisor (used for `--no-exec`, and as PID 1 where exec would leave the app
 * without a reaper). Resolves with the child's exit status, or 128+N when signal N killed it.
 *
 * When stdin is a terminal the child shares our process group, so the terminal already delivers Ctrl-C / Ctrl-\ to
 * both of us: SIGINT and SIGQUIT are then not forwarded again. Otherwise the child gets its own process group, and
 * every forwarded signal goes to the whole group, so grandchildren stop with it.
 */
export function superviseChild(file: string, argv: readonly string[], env: Record<string, string>): Promise<number> {
  const [argv0, ...args] = argv;
  const ownGroup = !isatty(0);
  let childPid: number | undefined = undefined;

  // Handlers go in before the child exists: a SIGTERM that arrives while it starts must be forwarded to it, not
  // kill keybox and leave the child orphaned. (A signal is handled on a later event-loop turn, after spawn().)
  const handlers = new Map<string, () => void>();
  for (const signal of FORWARDED_SIGNALS) {
    const handler = () => {
      if (!ownGroup && (signal === 'SIGINT' || signal === 'SIGQUIT')) return;
      if (childPid === undefined) return;
      try {
        process.kill(ownGroup ? -childPid : childPid, signal);
      } catch {
        // The child is already gone; its exit is on its way.
      }
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }

  const child = spawn(file, args, {
    argv0: argv0 ?? file,
    env,
    stdio: 'inherit',
    detached: ownGroup,
  });
  childPid = child.pid;

  return new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [signalName, handler] of handlers) process.off(signalName, handler);
      if (signal !== null) resolve(128 + (constants.signals[signal] ?? 0));
      else resolve(code ?? 0);
    });
  });
}
