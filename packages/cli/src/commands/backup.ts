import { toApiError } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { CliError } from '../errors.js';
import { note, printJson, printLine } from '../output/print.js';
import { dispatch } from '../subcommands.js';

// Builtins come from process.getBuiltinModule: see config/project-file.ts.
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
const createHash = (algorithm: string) => process.getBuiltinModule('node:crypto').createHash(algorithm);

export const specs = {
  create: {
    name: 'keybox backup create',
    usage: ['keybox backup create [--output FILE|DIR] [--json]'],
    summary: "Download a consistent copy of the server's store (admin), on SQLite or PostgreSQL.",
    details: [
      'The copy is a SQLite file holding what the store holds: values encrypted as at rest, names and metadata,',
      'the audit log. It does not hold the root key, and cannot be read without it: keep the key elsewhere.',
      'Written 0600 as keybox-backup-<time>.db (in DIR, or the current directory), never over an existing file, and',
      'checked against the SHA-256 the server sent. Restore it with keybox server restore (server stopped).',
      'A PostgreSQL store gives the same kind of SQLite file, read from one snapshot: restore it into a data dir',
      'and bring it back with keybox server migrate (docs/deploy.md).',
    ],
    options: {
      ...CONNECTION_OPTIONS,
      ...JSON_OPTION,
      output: { type: 'string', short: 'o', value: 'FILE|DIR', description: 'where to write the copy' },
    },
    examples: ['keybox backup create --output /var/backups/keybox/'],
  },
} satisfies Record<string, CommandSpec>;

export interface BackupFile {
  file: string;
  bytes: number;
  sha256: string;
  createdAt: string;
  auditSeq: number;
  rootKeyId: string;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string {
  const value = headers[name];
  if (typeof value !== 'string' || value === '') {
    throw new CliError('BAD_RESPONSE', `the server's backup came without ${name}`);
  }
  return value;
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function create(argv: string[]): Promise<void> {
  const { values } = parseCommand(specs.create, argv);
  const output = str(values, 'output');
  // Where it goes is settled before asking the server for anything.
  const intoDir = output === undefined || output.endsWith('/') || isDir(output);
  const dir = path.resolve(output === undefined ? '.' : intoDir ? output : path.dirname(output));
  if (!isDir(dir)) throw new CliError('CONFIG_INVALID', `${dir} is not a directory`);
  const temp = path.join(dir, `.keybox-backup.${process.pid}.tmp`);
  const { client } = await clientOnly(values);

  fs.rmSync(temp, { force: true });
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  const hash = createHash('sha256');
  let received = 0;
  const tty = process.stderr.isTTY && !bool(values, 'json');
  let shown = 0;
  let target: string | undefined;
  try {
    fs.fchmodSync(fd, 0o600);
    const res = await client.raw('POST', '/api/v1/sys/backup', {
      timeoutMs: 30 * 60_000,
      sink: (chunk) => {
        hash.update(chunk);
        fs.writeSync(fd, chunk);
        received += chunk.length;
        if (tty && Date.now() - shown > 200) {
          shown = Date.now();
          process.stderr.write(`\rkeybox: receiving the backup: ${mib(received)}   `);
        }
      },
    });
    if (tty && shown !== 0) process.stderr.write('\r\x1b[K');
    if (res.status !== 200) throw toApiError(res);
    const expected: BackupFile = {
      file: '',
      bytes: Number(header(res.headers, 'content-length')),
      sha256: header(res.headers, 'x-keybox-backup-sha256'),
      createdAt: header(res.headers, 'x-keybox-backup-created-at'),
      auditSeq: Number(header(res.headers, 'x-keybox-backup-audit-seq')),
      rootKeyId: header(res.headers, 'x-keybox-root-key-id'),
    };
    const sha256 = hash.digest('hex');
    if (received !== expected.bytes || sha256 !== expected.sha256) {
      throw new CliError(
        'BAD_RESPONSE',
        `the backup arrived damaged (${received} of ${expected.bytes} bytes, SHA-256 ${sha256 === expected.sha256 ? 'matches' : 'differs'}); nothing was kept`,
      );
    }
    fs.fsyncSync(fd);
    const stamp = expected.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const explicit = !(intoDir || output === undefined);
    // A hard link fails if the name is taken: a backup never replaces a file. Two backups within one second get
    // -2, -3… rather than an error; a FILE named by --output is never renamed.
    for (let n = 1; ; n++) {
      target = explicit
        ? path.resolve(output ?? '')
        : path.join(dir, `keybox-backup-${stamp}${n === 1 ? '' : `-${n}`}.db`);
      try {
        fs.linkSync(temp, target);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        if (code === 'EEXIST' && !explicit && n < 100) continue;
        throw new CliError('CONFIG_INVALID', `cannot write ${target} (${code === 'EEXIST' ? 'it exists' : code})`);
      }
    }
    const done: BackupFile = { ...expected, file: target };
    if (bool(values, 'json')) {
      printJson(done);
    } else {
      printLine(target);
      note(
        `backup of ${mib(done.bytes)}, SHA-256 ${done.sha256}, audit entries 1-${done.auditSeq}; ` +
          `it needs root key ${done.rootKeyId}, which is not in it: keep that key elsewhere`,
      );
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function run(argv: string[]) {
  return dispatch('backup', { create: { summary: specs.create.summary, run: create } }, argv);
}
