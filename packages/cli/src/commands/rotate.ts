import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { CliError } from '../errors.js';
import { note, printJson } from '../output/print.js';
import { dispatch } from '../subcommands.js';

const STORE_OPTIONS: CommandSpec['options'] = {
  'data-dir': { type: 'string', value: 'DIR', description: "the server's data dir (default ./.keybox)" },
  db: { type: 'string', value: 'URL', description: 'postgres:// URL, when the store is PostgreSQL' },
  'master-key-file': { type: 'string', value: 'FILE', description: 'the current root key (default DIR/keybox.key)' },
  'dry-run': { type: 'boolean', description: 'check and report; change nothing' },
  json: { type: 'boolean', description: 'print the result as JSON' },
};

export const specs = {
  'root-key': {
    name: 'keybox rotate root-key',
    usage: ['keybox rotate root-key --data-dir DIR [--new-key-file FILE] [--db URL] [--dry-run] [--json]'],
    summary: 'Wrap every data key with a new root key (a timestamped backup is made first).',
    details: [
      'Only the data keys are re-wrapped (one transaction, a handful of rows): values stay as they are. The current',
      "key is the data dir's keybox.key unless KEYBOX_MASTER_KEY or --master-key-file gives it. The new key is read",
      "from --new-key-file if that file exists, else made there (0600). Without --new-key-file, the data dir's",
      'keybox.key is replaced and the old one kept as keybox.key.<old id>.old. Before anything changes, a backup',
      'sealed with the old key goes to DIR/backups/: keep the old key with the backups made before the rotation.',
      'Running servers keep working (they hold the data keys in memory); start them with the new key from now on.',
    ],
    options: {
      ...STORE_OPTIONS,
      'new-key-file': { type: 'string', value: 'FILE', description: 'the new root key (made there if missing)' },
    },
    examples: ['keybox rotate root-key --data-dir /var/lib/keybox'],
  },
  'data-key': {
    name: 'keybox rotate data-key',
    usage: ['keybox rotate data-key --data-dir DIR [--reencrypt] [--db URL] [--dry-run] [--json]'],
    summary: 'Start encrypting with a new data key; --reencrypt moves every value to it.',
    details: [
      'The new data key becomes the active one and the old ones are retired: kept to decrypt what they encrypted,',
      'never used to encrypt again. Servers start encrypting with the new key at their next start. --reencrypt then',
      'encrypts every value and folder bundle again under the active key, a batch of 500 per transaction; run it',
      'after restarting the servers (it can be run again: only what is not under the active key is touched).',
      '--reencrypt --no-new-key re-encrypts without adding a key.',
    ],
    options: {
      ...STORE_OPTIONS,
      reencrypt: { type: 'boolean', description: 'encrypt every value and bundle again under the active key' },
      'no-new-key': { type: 'boolean', description: 'with --reencrypt: do not add a key first' },
    },
    examples: ['keybox rotate data-key --data-dir /var/lib/keybox', 'keybox rotate data-key --reencrypt --no-new-key'],
  },
} satisfies Record<string, CommandSpec>;

function storeOptions(values: Record<string, unknown>) {
  const env = process.env;
  const text = (name: string) => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  return {
    dataDir: text('data-dir') ?? (env['KEYBOX_DATA_DIR'] || undefined) ?? '.keybox',
    db: text('db') ?? (env['KEYBOX_DB'] || undefined),
    masterKey: env['KEYBOX_MASTER_KEY'] || undefined,
    masterKeyFile: text('master-key-file') ?? (env['KEYBOX_MASTER_KEY_FILE'] || undefined),
    dryRun: values['dry-run'] === true,
  };
}

async function server() {
  return import('@keybox/server');
}

async function wrapErrors<T>(work: () => Promise<T>): Promise<T> {
  const loaded = await server();
  try {
    return await work();
  } catch (error) {
    if (error instanceof loaded.AppError) throw new CliError(error.code, error.message);
    throw error;
  }
}

export function run(argv: string[]) {
  return dispatch(
    'rotate',
    {
      'root-key': {
        summary: specs['root-key'].summary,
        async run(args) {
          const { values } = parseCommand(specs['root-key'], args);
          const { rotateRootKey } = await server();
          const result = await wrapErrors(() =>
            rotateRootKey({ ...storeOptions(values), newKeyFile: str(values, 'new-key-file') }),
          );
          if (bool(values, 'json')) return printJson(result);
          if (result.dryRun) {
            note(`root key ${result.from} opens the store (${result.dataKeys} data keys to re-wrap); nothing changed`);
            return;
          }
          note(`re-wrapped ${result.dataKeys} data keys: root key ${result.from} -> ${result.to ?? ''}`);
          note(`the new root key is in ${result.keyFile ?? ''}: start every server with it`);
          if (result.backup !== undefined) note(`backup before the rotation (needs the old key): ${result.backup}`);
          if (result.oldKeyFile !== undefined) {
            note(
              `the old key is kept as ${result.oldKeyFile} for the backups made with it: move it off this machine with them`,
            );
          }
        },
      },
      'data-key': {
        summary: specs['data-key'].summary,
        async run(args) {
          const { values } = parseCommand(specs['data-key'], args);
          if (bool(values, 'no-new-key') && !bool(values, 'reencrypt')) {
            throw new CliError('USAGE', '--no-new-key only makes sense with --reencrypt');
          }
          const { rotateDataKey } = await server();
          const result = await wrapErrors(() =>
            rotateDataKey({
              ...storeOptions(values),
              reencrypt: bool(values, 'reencrypt'),
              newKey: !bool(values, 'no-new-key'),
            }),
          );
          if (bool(values, 'json')) return printJson(result);
          if (result.dryRun) {
            note(`the active data key is ${result.activeKeyId ?? ''}; nothing changed`);
            return;
          }
          if (result.retired.length > 0 || !bool(values, 'no-new-key')) {
            note(`data key ${result.activeKeyId ?? ''} is now active; retired: ${result.retired.join(', ') || 'none'}`);
            note('servers encrypt with it from their next start');
          }
          if (result.reencrypted !== null) {
            note(
              `re-encrypted ${result.reencrypted.values} value(s) and ${result.reencrypted.bundles} bundle(s) under key ${result.activeKeyId ?? ''}`,
            );
          }
        },
      },
    },
    argv,
  );
}
