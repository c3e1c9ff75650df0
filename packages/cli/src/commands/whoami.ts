import { bool, parseCommand, type CommandSpec } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { formatTime, printJson, printLine } from '../output/print.js';

const spec: CommandSpec = {
  name: 'keybox whoami',
  usage: ['keybox whoami [--json]'],
  summary: 'Show who the current credential is, its policies and when its token expires.',
  options: { ...CONNECTION_OPTIONS, ...JSON_OPTION },
};

interface Lookup {
  token: { id: string; kind: string; expiresAt: string | null; usesRemaining: number | null };
  principal: { type: string; name: string; actor: string; policies: string[] };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(spec, argv);
  const { client } = await clientOnly(values);
  const res = await client.request<Lookup>('GET', '/api/v1/auth/token');
  if (bool(values, 'json')) {
    printJson(res);
    return 0;
  }
  printLine(`${res.principal.actor} (${res.token.kind} token ${res.token.id})`);
  printLine(`policies: ${res.principal.policies.join(', ') || '(none)'}`);
  printLine(`expires: ${res.token.expiresAt === null ? 'never' : formatTime(res.token.expiresAt)}`);
  if (res.token.usesRemaining !== null) printLine(`uses left: ${res.token.usesRemaining}`);
  return 0;
}
