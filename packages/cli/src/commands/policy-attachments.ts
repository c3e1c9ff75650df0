import { bool, onePositional, parseCommand, str, strs, type CommandSpec, type Values } from '../args.js';
import { clientOnly, CONNECTION_OPTIONS, JSON_OPTION } from '../command-context.js';
import { usageError } from '../errors.js';
import { printJson, printLine } from '../output/print.js';
import type { Subcommand } from '../subcommands.js';

/**
 * `keybox identities|users attach|detach NAME --policy P`: the same two commands over
 * `POST /api/v1/<group>/:name/policies` and `DELETE /api/v1/<group>/:name/policies/:policy`.
 */
export function policyAttachmentCommands(
  group: 'identities' | 'users',
  noun: 'identity' | 'user',
): Record<'attach' | 'detach', Subcommand> {
  const common = { ...CONNECTION_OPTIONS, ...JSON_OPTION };
  const specs = {
    attach: {
      name: `keybox ${group} attach`,
      usage: [`keybox ${group} attach NAME --policy P [--policy Q]`],
      summary: `Attach policies to ${noun === 'identity' ? 'an identity' : 'a user'}.`,
      options: { ...common, policy: { type: 'string', multiple: true, value: 'P', description: 'policy' } },
      positionals: true,
    },
    detach: {
      name: `keybox ${group} detach`,
      usage: [`keybox ${group} detach NAME --policy P`],
      summary: `Detach a policy from ${noun === 'identity' ? 'an identity' : 'a user'}.`,
      options: { ...common, policy: { type: 'string', value: 'P', description: 'policy' } },
      positionals: true,
    },
  } satisfies Record<string, CommandSpec>;

  function target(positionals: string[]): string {
    return `/api/v1/${group}/${encodeURIComponent(onePositional(positionals, `${noun} name`))}/policies`;
  }

  function show(values: Values, res: { policies: string[] }): void {
    if (bool(values, 'json')) return printJson(res);
    printLine(`policies: ${res.policies.join(', ') || '(none)'}`);
  }

  return {
    attach: {
      summary: specs.attach.summary,
      async run(args) {
        const { values, positionals } = parseCommand(specs.attach, args);
        const policies = strs(values, 'policy');
        if (policies.length === 0) throw usageError('--policy is required');
        const { client } = await clientOnly(values);
        show(values, await client.request<{ policies: string[] }>('POST', target(positionals), { body: { policies } }));
      },
    },
    detach: {
      summary: specs.detach.summary,
      async run(args) {
        const { values, positionals } = parseCommand(specs.detach, args);
        const policy = str(values, 'policy');
        if (policy === undefined) throw usageError('--policy is required');
        const { client } = await clientOnly(values);
        const path = `${target(positionals)}/${encodeURIComponent(policy)}`;
        show(values, await client.request<{ policies: string[] }>('DELETE', path));
      },
    },
  };
}
