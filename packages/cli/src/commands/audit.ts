import { bool, int, parseCommand, str, strs, type CommandSpec } from '../args.js';
import { checkTargets, cliStateTargets, dataDirTargets, fixFindings, secretDirTargets } from '../audit/permissions.js';
import { cacheDir } from '../run/bundle-cache.js';
import { configDir, sessionFile } from '../config/session.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { usageError } from '../errors.js';
import { formatTime, printJson, printLine, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

interface Entry {
  seq: number;
  time: string;
  actor: string;
  sourceIp: string;
  action: string;
  resource: string;
  outcome: string;
  requestId: string;
  details: Record<string, unknown>;
}
interface Verify {
  ok: boolean;
  count: number;
  head: { seq: number; mac: string };
  problems: string[];
}

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };
const specs = {
  list: {
    name: 'keybox audit list',
    usage: ['keybox audit list [--actor A] [--action X] [--path /p] [--outcome O] [--since T] [--until T] [--limit N]'],
    summary: 'Show audit entries, newest first: who, from where, what, outcome (names and versions, never values).',
    options: {
      ...common,
      actor: { type: 'string', value: 'A', description: 'e.g. identity:ci, user:alice, token:deploy' },
      action: { type: 'string', value: 'X', description: 'e.g. secrets.read, or a prefix such as secrets' },
      path: { type: 'string', value: '/PATH', description: 'a folder and what lies below it' },
      outcome: { type: 'string', value: 'O', description: 'success, denied, failure or error' },
      since: { type: 'string', value: 'TIME', description: 'ISO-8601' },
      until: { type: 'string', value: 'TIME', description: 'ISO-8601' },
      limit: { type: 'string', value: 'N', description: 'at most N entries (default 100)' },
      before: { type: 'string', value: 'SEQ', description: 'entries before this sequence number (paging)' },
    },
  },
  verify: {
    name: 'keybox audit verify',
    usage: ['keybox audit verify [--expect SEQ:MAC] [--json]'],
    summary: 'Recompute the audit chain and report any edited, deleted, reordered, rewritten or missing entry.',
    details: [
      'Prints the chain head (sequence number and MAC): keep it somewhere else (a ticket, another system) and pass',
      'it later as --expect SEQ:MAC to prove nothing was cut off or rewritten since. Exit 1 when the chain is broken.',
    ],
    options: { ...common, expect: { type: 'string', value: 'SEQ:MAC', description: 'a head recorded earlier' } },
  },
  perms: {
    name: 'keybox audit perms',
    usage: ['keybox audit perms [--data-dir DIR ...] [--dir SECRETS_DIR ...] [--fix] [--json]'],
    summary: 'Check the permissions of data dirs, keys, secret files and the CLI state on this machine.',
    details: [
      'Reports what could let another user read or replace a secret: a data dir, root key, database or backup that',
      'others can read; a directory others can write to; a file owned by another user; a dangling symlink; a root',
      "key left in the data dir after a rotation. Secret files (--dir, e.g. keybox agent's) may be group-readable;",
      'keys and stores may not. Also checks the login session and the encrypted cache in your home directory.',
      'Default data dir: KEYBOX_DATA_DIR, or ./.keybox if it exists. --fix sets the modes it can (0700 / 0600).',
      'Exit 1 when an error remains. Reads no file content.',
    ],
    options: {
      'data-dir': { type: 'string', multiple: true, value: 'DIR', description: "a server's data dir" },
      dir: { type: 'string', multiple: true, value: 'DIR', description: 'a directory of secret files (agent --dir)' },
      fix: { type: 'boolean', description: 'chmod what has a wrong mode' },
      ...JSON_OPTION,
    },
    examples: ['keybox audit perms --data-dir /var/lib/keybox --dir /run/keybox'],
  },
} satisfies Record<string, CommandSpec>;

function summary(entry: Entry): string {
  const d = entry.details;
  const folders = d['folders'] as { path: string; secrets: unknown }[] | undefined;
  if (folders !== undefined) {
    // A names list the server could not write out stays a reference (missing or altered: see `audit verify`).
    const count = (secrets: unknown) => (Array.isArray(secrets) ? String(secrets.length) : 'names list unavailable');
    return folders.map((f) => `${f.path} (${count(f.secrets)})`).join(' ');
  }
  const secrets = d['secrets'] as unknown[][] | undefined;
  if (secrets !== undefined) return secrets.map((s) => `${String(s[0])}@v${String(s[2])}`).join(' ');
  const reason = d['reason'] ?? d['code'];
  return typeof reason === 'string' ? reason : '';
}

export function run(argv: string[]) {
  return dispatch(
    'audit',
    {
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ entries: Entry[] }>('GET', '/api/v1/audit', {
            query: {
              actor: str(values, 'actor'),
              action: str(values, 'action'),
              path: str(values, 'path'),
              outcome: str(values, 'outcome'),
              since: str(values, 'since'),
              until: str(values, 'until'),
              limit: int(values, 'limit'),
              before: int(values, 'before'),
            },
          });
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['SEQ', 'TIME', 'ACTOR', 'FROM', 'ACTION', 'RESOURCE', 'OUTCOME', 'DETAILS'],
            res.entries.map((e) => [
              e.seq,
              formatTime(e.time),
              e.actor,
              e.sourceIp || '-',
              e.action,
              e.resource,
              e.outcome,
              summary(e),
            ]),
          );
        },
      },
      verify: {
        summary: specs.verify.summary,
        async run(args) {
          const { values } = parseCommand(specs.verify, args);
          const expect = str(values, 'expect');
          const m = expect === undefined ? null : /^(\d+):([0-9a-f]{64})$/.exec(expect);
          if (expect !== undefined && m === null)
            throw usageError('--expect takes SEQ:MAC as printed by keybox audit verify');
          const { client } = await clientOnly(values);
          const res = await client.request<Verify>('GET', '/api/v1/audit/verify', {
            query: { expectSeq: m?.[1], expectMac: m?.[2] },
          });
          if (bool(values, 'json')) printJson(res);
          else {
            printLine(
              res.ok ? `audit chain intact: ${res.count} entries` : `audit chain BROKEN (${res.count} entries):`,
            );
            for (const p of res.problems) printLine(`  - ${p}`);
            printLine(`head: ${res.head.seq}:${res.head.mac}`);
          }
          return res.ok ? 0 : 1;
        },
      },
      perms: {
        summary: specs.perms.summary,
        run(args) {
          const { values } = parseCommand(specs.perms, args);
          const env = process.env;
          const dataDirs = strs(values, 'data-dir');
          if (dataDirs.length === 0) {
            const fallback = env['KEYBOX_DATA_DIR'] || '.keybox';
            if (env['KEYBOX_DATA_DIR'] || process.getBuiltinModule('node:fs').existsSync(fallback))
              dataDirs.push(fallback);
          }
          const targets = () => [
            ...dataDirs.flatMap((d) => dataDirTargets(d)),
            ...strs(values, 'dir').flatMap((d) => secretDirTargets(d)),
            ...cliStateTargets(configDir(env), sessionFile(env), cacheDir(env)),
          ];
          let findings = checkTargets(targets());
          const fixed = bool(values, 'fix') ? fixFindings(findings) : [];
          if (fixed.length > 0) findings = checkTargets(targets());
          const checked = targets().length;
          const errors = findings.filter((f) => f.severity === 'error').length;
          if (bool(values, 'json')) {
            printJson({ ok: errors === 0, checked, fixed, findings });
          } else {
            for (const path of fixed) printLine(`fixed     ${path}`);
            if (findings.length > 0) {
              printTable(
                ['SEVERITY', 'PATH', 'PROBLEM'],
                findings.map((f) => [f.severity, f.path, f.problem]),
              );
            }
            printLine(
              `${checked} path(s) checked: ${errors} error(s), ${findings.length - errors} warning(s)` +
                (dataDirs.length === 0 ? ' (no data dir: give --data-dir to check a server)' : ''),
            );
          }
          return Promise.resolve(errors === 0 ? 0 : 1);
        },
      },
    },
    argv,
  );
}
