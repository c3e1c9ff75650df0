import { bool, parseCommand, str, strs, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { parseDuration } from '../duration.js';
import { formatTime, note, printJson, printLine, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';

interface Token {
  id: string;
  name: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastIp: string | null;
  revokedAt: string | null;
}

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };
const specs = {
  create: {
    name: 'keybox tokens create',
    usage: ['keybox tokens create NAME --policy P [--ttl DURATION]'],
    summary: 'Create a static API token with its own policies (shown once).',
    details: [
      'For machines, prefer an identity (short-lived tokens from a client id and secret); static tokens suit',
      'scripts and integrations that cannot log in. Name, creator, expiry, last use and last address are kept.',
    ],
    options: {
      ...common,
      policy: { type: 'string', multiple: true, value: 'P', description: 'policy to attach' },
      ttl: { type: 'string', value: 'DURATION', description: 'expire after this (default: never)' },
    },
    positionals: true,
  },
  list: {
    name: 'keybox tokens list',
    usage: ['keybox tokens list'],
    summary: 'List static API tokens with their metadata (never the tokens).',
    options: common,
  },
  revoke: {
    name: 'keybox tokens revoke',
    usage: ['keybox tokens revoke ID'],
    summary: 'Revoke a token: it stops working on the next request, on every server.',
    options: CONNECTION_OPTIONS,
    positionals: true,
  },
} satisfies Record<string, CommandSpec>;

export function run(argv: string[]) {
  return dispatch(
    'tokens',
    {
      create: {
        summary: specs.create.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.create, args);
          const name = onePositional(positionals, 'token name');
          const ttl = str(values, 'ttl');
          const { client } = await clientOnly(values);
          const res = await client.request<{ token: string; id: string; expiresAt: string | null }>(
            'POST',
            '/api/v1/tokens',
            {
              body: {
                name,
                policies: strs(values, 'policy'),
                ttl: ttl === undefined ? undefined : parseDuration(ttl, 'ttl'),
              },
            },
          );
          if (bool(values, 'json')) return printJson(res);
          printLine(res.token);
          note(
            `token ${res.id} (shown only now), expires ${res.expiresAt === null ? 'never' : formatTime(res.expiresAt)}`,
          );
        },
      },
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ tokens: Token[] }>('GET', '/api/v1/tokens');
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['ID', 'NAME', 'CREATED', 'BY', 'EXPIRES', 'LAST USED', 'LAST IP'],
            res.tokens.map((t) => [
              t.id,
              t.name,
              formatTime(t.createdAt),
              t.createdBy,
              t.expiresAt === null ? 'never' : formatTime(t.expiresAt),
              t.lastUsedAt === null ? '-' : formatTime(t.lastUsedAt),
              t.lastIp || '-',
            ]),
          );
        },
      },
      revoke: {
        summary: specs.revoke.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.revoke, args);
          const id = onePositional(positionals, 'token id');
          const { client } = await clientOnly(values);
          await client.request('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
          note(`revoked token ${id}`);
        },
      },
    },
    argv,
  );
}
