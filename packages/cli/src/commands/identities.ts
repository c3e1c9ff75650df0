import type { ClientSecretInfo, IdentityInfo } from '@keybox/sdk';
import { bool, int, parseCommand, str, strs, type CommandSpec, onePositional } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { formatDuration, parseDuration } from '../duration.js';
import { usageError } from '../errors.js';
import { formatTime, note, printJson, printLine, printTable } from '../output/print.js';
import { dispatch } from '../subcommands.js';
import { policyAttachmentCommands } from './policy-attachments.js';

const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };
const settings = {
  description: { type: 'string', value: 'TEXT', description: 'what the identity is for' },
  ttl: { type: 'string', value: 'DURATION', description: 'access token lifetime (default 1h)' },
  'max-ttl': { type: 'string', value: 'DURATION', description: 'renewals never go past this (default 24h)' },
  uses: { type: 'string', value: 'N', description: 'uses per access token (default 0: unlimited)' },
  'trusted-cidr': {
    type: 'string',
    multiple: true,
    value: 'CIDR',
    description: 'only log in and use tokens from these addresses',
  },
} as const;

const specs = {
  create: {
    name: 'keybox identities create',
    usage: ['keybox identities create NAME --policy P [--policy Q] [options]'],
    summary: 'Create a machine identity and print its client id and first client secret (shown once).',
    details: [
      'Give the pair to the machine as KEYBOX_CLIENT_ID and KEYBOX_CLIENT_SECRET (or KEYBOX_CLIENT_SECRET_FILE);',
      'keybox and the SDK exchange it for a short-lived access token at start-up.',
    ],
    options: {
      ...common,
      ...settings,
      policy: { type: 'string', multiple: true, value: 'P', description: 'policy to attach' },
      'secret-ttl': { type: 'string', value: 'DURATION', description: 'the client secret expires after this' },
    },
    positionals: true,
  },
  list: {
    name: 'keybox identities list',
    usage: ['keybox identities list'],
    summary: 'List identities.',
    options: common,
  },
  get: {
    name: 'keybox identities get',
    usage: ['keybox identities get NAME'],
    summary: 'Show one identity.',
    options: common,
    positionals: true,
  },
  update: {
    name: 'keybox identities update',
    usage: ['keybox identities update NAME [options]'],
    summary: "Change an identity's token settings, or disable it (revoking its tokens) and enable it again.",
    options: {
      ...common,
      ...settings,
      disable: { type: 'boolean', description: 'disable it and revoke its tokens' },
      enable: { type: 'boolean', description: 'enable it again' },
    },
    positionals: true,
  },
  delete: {
    name: 'keybox identities delete',
    usage: ['keybox identities delete NAME'],
    summary: 'Delete an identity; its client secrets and tokens stop working at once.',
    options: CONNECTION_OPTIONS,
    positionals: true,
  },
  'add-secret': {
    name: 'keybox identities add-secret',
    usage: ['keybox identities add-secret NAME [--ttl DURATION] [--description TEXT]'],
    summary: 'Add a client secret (shown once): deploy it, then revoke the old one, for rotation without downtime.',
    options: {
      ...common,
      ttl: { type: 'string', value: 'DURATION', description: 'the secret expires after this' },
      description: { type: 'string', value: 'TEXT', description: 'where it is used' },
    },
    positionals: true,
  },
  secrets: {
    name: 'keybox identities secrets',
    usage: ['keybox identities secrets NAME'],
    summary: "List an identity's client secrets (ids and dates, never the secrets).",
    options: common,
    positionals: true,
  },
  'revoke-secret': {
    name: 'keybox identities revoke-secret',
    usage: ['keybox identities revoke-secret NAME SECRET_ID'],
    summary: 'Revoke a client secret and every access token it minted.',
    options: CONNECTION_OPTIONS,
    positionals: true,
  },
} satisfies Record<string, CommandSpec>;

const one = (positionals: string[], what = 'identity name') => onePositional(positionals, what);

function settingsBody(values: Parameters<typeof str>[0]) {
  const ttl = str(values, 'ttl');
  const maxTtl = str(values, 'max-ttl');
  const uses = str(values, 'uses');
  const cidrs = strs(values, 'trusted-cidr');
  return {
    description: str(values, 'description'),
    tokenTtl: ttl === undefined ? undefined : parseDuration(ttl, 'ttl'),
    tokenMaxTtl: maxTtl === undefined ? undefined : parseDuration(maxTtl, 'max-ttl'),
    tokenUses: uses === undefined ? undefined : int(values, 'uses'),
    trustedCidrs: cidrs.length === 0 ? undefined : cidrs,
  };
}

function show(identity: IdentityInfo) {
  printLine(`name:         ${identity.name}${identity.disabled ? ' (disabled)' : ''}`);
  printLine(`client id:    ${identity.clientId}`);
  printLine(`policies:     ${identity.policies.join(', ') || '(none)'}`);
  printLine(
    `tokens:       ttl ${formatDuration(identity.tokenTtl)}, max ${formatDuration(identity.tokenMaxTtl)}, ${identity.tokenUses === 0 ? 'unlimited uses' : `${identity.tokenUses} uses`}`,
  );
  if (identity.trustedCidrs.length > 0) printLine(`trusted from: ${identity.trustedCidrs.join(', ')}`);
  if (identity.description !== '') printLine(`description:  ${identity.description}`);
}

const base = '/api/v1/identities';
const at = (name: string) => `${base}/${encodeURIComponent(name)}`;

export function run(argv: string[]) {
  return dispatch(
    'identities',
    {
      create: {
        summary: specs.create.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.create, args);
          const name = one(positionals);
          const secretTtl = str(values, 'secret-ttl');
          const { client } = await clientOnly(values);
          const res = await client.request<{
            identity: IdentityInfo;
            clientId: string;
            clientSecret: string;
            secretId: string;
            expiresAt: string | null;
          }>('POST', base, {
            body: {
              name,
              ...settingsBody(values),
              policies: strs(values, 'policy'),
              secretTtl: secretTtl === undefined ? undefined : parseDuration(secretTtl, 'secret-ttl'),
            },
          });
          if (bool(values, 'json')) return printJson(res);
          show(res.identity);
          printLine('');
          printLine(`KEYBOX_CLIENT_ID=${res.clientId}`);
          printLine(`KEYBOX_CLIENT_SECRET=${res.clientSecret}`);
          note(
            'the client secret is shown only now: store it where the machine reads it (a 0600 file, your deploy secret store)',
          );
        },
      },
      list: {
        summary: specs.list.summary,
        async run(args) {
          const { values } = parseCommand(specs.list, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ identities: IdentityInfo[] }>('GET', base);
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['NAME', 'CLIENT ID', 'POLICIES', 'TOKEN TTL', 'CREATED'],
            res.identities.map((i) => [
              i.disabled ? `${i.name} (disabled)` : i.name,
              i.clientId,
              i.policies.join(','),
              formatDuration(i.tokenTtl),
              formatTime(i.createdAt),
            ]),
          );
        },
      },
      get: {
        summary: specs.get.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.get, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ identity: IdentityInfo }>('GET', at(one(positionals)));
          if (bool(values, 'json')) return printJson(res);
          show(res.identity);
        },
      },
      update: {
        summary: specs.update.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.update, args);
          if (bool(values, 'disable') && bool(values, 'enable')) throw usageError('--disable or --enable, not both');
          const disabled = bool(values, 'disable') ? true : bool(values, 'enable') ? false : undefined;
          const { client } = await clientOnly(values);
          const res = await client.request<{ identity: IdentityInfo }>('PATCH', at(one(positionals)), {
            body: { ...settingsBody(values), disabled },
          });
          if (bool(values, 'json')) return printJson(res);
          show(res.identity);
        },
      },
      delete: {
        summary: specs.delete.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.delete, args);
          const name = one(positionals);
          const { client } = await clientOnly(values);
          await client.request('DELETE', at(name));
          note(`deleted identity ${name}`);
        },
      },
      'add-secret': {
        summary: specs['add-secret'].summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs['add-secret'], args);
          const ttl = str(values, 'ttl');
          const { client } = await clientOnly(values);
          const res = await client.request<{ secretId: string; clientSecret: string; expiresAt: string | null }>(
            'POST',
            `${at(one(positionals))}/secrets`,
            {
              body: {
                ttl: ttl === undefined ? undefined : parseDuration(ttl, 'ttl'),
                description: str(values, 'description'),
              },
            },
          );
          if (bool(values, 'json')) return printJson(res);
          printLine(`KEYBOX_CLIENT_SECRET=${res.clientSecret}`);
          note(
            `client secret ${res.secretId} (shown only now), expires ${res.expiresAt === null ? 'never' : formatTime(res.expiresAt)}`,
          );
        },
      },
      secrets: {
        summary: specs.secrets.summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs.secrets, args);
          const { client } = await clientOnly(values);
          const res = await client.request<{ secrets: ClientSecretInfo[] }>('GET', `${at(one(positionals))}/secrets`);
          if (bool(values, 'json')) return printJson(res);
          printTable(
            ['SECRET ID', 'DESCRIPTION', 'CREATED', 'EXPIRES', 'LAST USED', 'STATE'],
            res.secrets.map((s) => [
              s.id,
              s.description,
              formatTime(s.createdAt),
              s.expiresAt === null ? 'never' : formatTime(s.expiresAt),
              s.lastUsedAt === null ? '-' : formatTime(s.lastUsedAt),
              s.revokedAt === null ? 'active' : 'revoked',
            ]),
          );
        },
      },
      'revoke-secret': {
        summary: specs['revoke-secret'].summary,
        async run(args) {
          const { values, positionals } = parseCommand(specs['revoke-secret'], args);
          if (positionals.length !== 2) throw usageError('give the identity name and the secret id');
          const [name, id] = positionals as [string, string];
          const { client } = await clientOnly(values);
          await client.request('DELETE', `${at(name)}/secrets/${encodeURIComponent(id)}`);
          note(`revoked client secret ${id} of ${name} and its tokens`);
        },
      },
      ...policyAttachmentCommands('identities', 'identity'),
    },
    argv,
  );
}
