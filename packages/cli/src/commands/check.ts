import { createSecrets, type ItemStatus, type KeyboxStatus } from '@keybox/sdk';
import { bool, parseCommand, str, type CommandSpec } from '../args.js';
import { JSON_OPTION } from '../command-context.js';
import { loadManifest } from '../manifest/load-manifest.js';
import { note, printJson, printTable, warn } from '../output/print.js';

export const spec: CommandSpec = {
  name: 'keybox check',
  usage: ['keybox check [--manifest FILE] [--json] [--offline]'],
  summary: 'Show, for each item of the manifest, whether it is set and where it comes from. Never values.',
  details: [
    'Evaluates keybox.manifest.json (or .yaml, .yml) in this process environment exactly as @keybox/sdk does in',
    'the app: NAME, then the file named by NAME_FILE, then the Keybox server (when KEYBOX_ADDR, a token,',
    'KEYBOX_PROJECT and KEYBOX_ENV are set). `keybox run ... -- keybox check` shows what the app would see.',
    'Exit 0 when every required item is present and valid, 1 otherwise.',
  ],
  options: {
    manifest: {
      type: 'string',
      short: 'm',
      value: 'FILE',
      description: 'the manifest (default: keybox.manifest.json here)',
    },
    offline: { type: 'boolean', description: 'do not ask the Keybox server; environment and files only' },
    ...JSON_OPTION,
  },
  examples: [
    'keybox check',
    'keybox run --project shop --env prod --path /backend -- keybox check',
    'keybox check --json --manifest deploy/keybox.manifest.yaml',
  ],
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  const { file, manifest } = await loadManifest(str(values, 'manifest'), process.cwd());
  const secrets = createSecrets(manifest, { env: process.env, ...(bool(values, 'offline') ? { keybox: false } : {}) });
  const status = await secrets.load();
  if (bool(values, 'json')) {
    printJson({ manifest: file, ok: status.ok, items: status.items, keybox: status.keybox });
    return status.ok ? 0 : 1;
  }
  printTable(
    ['NAME', 'REQUIRED', 'SECRET', 'SOURCE', 'ENV VAR/FILE', 'PROBLEMS'],
    status.items.map((item) => [
      item.name,
      item.required ? 'yes' : 'no',
      item.secret ? 'yes' : 'no',
      item.source,
      fedBy(item),
      item.problems.length === 0 ? '-' : item.problems.map((p) => `${p.level}: ${p.message}`).join('; '),
    ]),
  );
  reportKeybox(status.keybox);
  const failing = status.items.filter((i) => i.problems.some((p) => p.level === 'error')).map((i) => i.name);
  if (failing.length > 0) warn(`not ready: ${failing.join(', ')}`);
  return status.ok ? 0 : 1;
}

/** Which variable or file fed the item, or, when nothing did, which ones it expects. */
function fedBy(item: ItemStatus): string {
  switch (item.source) {
    case 'env':
      return item.variable ?? '-';
    case 'file':
      return `${item.variable ?? ''} (${item.file ?? ''})`;
    case 'keybox': {
      const origin = item.keybox;
      const where = origin === undefined ? '' : `${origin.path} v${origin.version}`;
      return `${item.variable ?? ''} (${origin?.via === 'run' ? 'keybox run, ' : ''}${where})`;
    }
    case 'legacy':
      return 'legacy store';
    case 'missing':
      return `expects ${item.envVars.join(' or ')}`;
  }
}

function reportKeybox(keybox: KeyboxStatus): void {
  const scope =
    keybox.project === undefined ? '' : ` ${keybox.project}/${keybox.env ?? ''} ${(keybox.paths ?? []).join(',')}`;
  switch (keybox.state) {
    case 'loaded':
      note(`read Keybox${scope}`);
      break;
    case 'not-needed':
      note(`did not ask Keybox${scope}: the environment has every item`);
      break;
    case 'failed':
      warn(
        `could not read Keybox${scope}: ${keybox.reason ?? 'unknown error'}${keybox.code === undefined ? '' : ` [${keybox.code}]`}`,
      );
      break;
    case 'not-configured':
      note(`Keybox server not used: ${keybox.reason ?? 'not configured'}`);
      break;
    case 'not-loaded':
      break;
  }
}
