/**
 * Replaces this process with the child (`process.execve`): the child keeps our pid, so its exit status and the
 * signals sent to it are its own and no wrapper stays behind.
 *
 * Node ignores SIGPIPE and SIGXFSZ, and an ignored disposition survives exec: `yes | head -1` would then never end
 * `yes` by SIGPIPE. A caught signal is reset to the default on exec, so installing a handler restores the default
 * for the child.
 */
export function execChild(file: string, argv: readonly string[], env: Record<string, string>): never {
  if (process.execve === undefined) throw new Error('process.execve needs Node.js >= 22.15');
  const noop = () => {};
  process.on('SIGPIPE', noop);
  process.on('SIGXFSZ', noop);
  process.execve(file, [...argv], env);
  // execve only returns by throwing (Node aborts on failure); this line is never reached.
  throw new Error('process.execve returned');
}
