// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

export type Resolved = { ok: true; file: string; argv: string[] } | { ok: false; exitCode: 126 | 127; message: string };

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Finds the program the way a shell does, before anything is started: `process.execve` aborts the whole process
 * when the kernel refuses the file, so every refusal it could meet is turned into a shell-style exit status here
 * (127 not found, 126 found but cannot run) and a message.
 */
export function resolveCommand(argv: readonly string[], pathEnv: string | undefined, cwd: string): Resolved {
  const [command, ...rest] = argv;
  if (command === undefined || command === '') return { ok: false, exitCode: 127, message: 'empty command' };

  let file: string | undefined;
  let denied: string | undefined;
  if (command.includes('/')) {
    const check = checkFile(command.startsWith('/') ? command : path.join(cwd, command));
    if (check === 'missing') return { ok: false, exitCode: 127, message: `${command}: no such file` };
    if (check === 'directory') return { ok: false, exitCode: 126, message: `${command}: is a directory` };
    if (check === 'denied') return { ok: false, exitCode: 126, message: `${command}: permission denied` };
    file = command;
  } else {
    for (const dir of (pathEnv ?? DEFAULT_PATH).split(path.delimiter)) {
      const candidate = path.join(dir === '' ? '.' : dir, command);
      const check = checkFile(candidate);
      if (check === 'ok') {
        file = candidate;
        break;
      }
      if (check === 'denied') denied ??= candidate;
    }
    if (file === undefined) {
      return denied === undefined
        ? { ok: false, exitCode: 127, message: `${command}: command not found` }
        : { ok: false, exitCode: 126, message: `${command}: permission denied` };
    }
  }

  const head = readHead(file);
  if (head === undefined || head.subarray(0, 4).equals(ELF)) return { ok: true, file, argv: [command, ...rest] };
  if (head.subarray(0, 2).toString('latin1') === '#!') {
    const line = head.subarray(2).toString('utf8').split('\n')[0] ?? '';
    const interpreter = line.trim().split(/[ \t]+/)[0] ?? '';
    if (interpreter === '' || checkFile(interpreter) !== 'ok') {
      return { ok: false, exitCode: 126, message: `${command}: bad interpreter ${interpreter || '(none)'}` };
    }
    return { ok: true, file, argv: [command, ...rest] };
  }
  // Neither a binary nor a #! script: like execvp, run it with /bin/sh instead of failing with ENOEXEC.
  return { ok: true, file: '/bin/sh', argv: ['/bin/sh', file, ...rest] };
}

const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

type FileCheck = 'ok' | 'missing' | 'directory' | 'denied';

function checkFile(path: string): FileCheck {
  let stat;
  try {
    stat = fs.statSync(path);
  } catch {
    return 'missing';
  }
  if (stat.isDirectory()) return 'directory';
  if (!stat.isFile()) return 'denied';
  try {
    fs.accessSync(path, fs.constants.X_OK);
  } catch {
    return 'denied';
  }
  return 'ok';
}

/** The first bytes of a file, or undefined when it cannot be read (an execute-only binary is still fine). */
function readHead(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(256);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n);
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
