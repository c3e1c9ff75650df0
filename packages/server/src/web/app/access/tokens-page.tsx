import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useSession } from '../session.js';
import {
  ActionForm,
  Confirm,
  Dialog,
  Empty,
  ErrorNote,
  Field,
  Show,
  ShownOnce,
  TableHead,
  Time,
  useAction,
  useLoad,
  valueOf,
} from '../ui.js';
import { AccessHeader } from './access-nav.js';
import { ExistingPolicies, parseDuration, parseList, PolicyPills, seg } from './shared.js';

/** A static API token as `GET /tokens` lists it (core/auth/token-service.ts TokenInfo): never the token itself. */
interface ApiToken {
  id: string;
  name: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastIp: string | null;
  /** Not in today's listing (only `GET /tokens/:id` has them): read when present, else fetched on demand. */
  policies?: string[];
}

/** What `POST /tokens` answers: the only time the token is ever sent. */
interface CreatedToken {
  token: string;
  id: string;
  expiresAt: string | null;
}

const expired = (t: ApiToken) => t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now();

export function TokensPage() {
  const { principal } = useSession();
  const load = useLoad(() => api<{ tokens: ApiToken[] }>('GET', '/tokens'), []);
  const [open, setOpen] = useState<{ kind: 'create' } | { kind: 'revoke'; token: ApiToken } | undefined>();
  const close = () => setOpen(undefined);
  return (
    <section>
      <AccessHeader current="tokens" newLabel="New token" onNew={() => setOpen({ kind: 'create' })}>
        Static API tokens, for scripts and integrations that cannot log in. Sessions and identities' access tokens are
        not listed here.
      </AccessHeader>
      <Show load={load}>
        {({ tokens }) =>
          tokens.length === 0 ? (
            <Empty>No static token.</Empty>
          ) : (
            <table>
              <TableHead columns={['Name', 'Created', 'By', 'Expires', 'Last used', 'Last IP', 'Policies']} actions />
              <tbody>
                {tokens.map((t) => (
                  <tr key={t.id}>
                    <th scope="row">
                      {t.name} <code class="muted">{t.id}</code>
                    </th>
                    <td>
                      <Time iso={t.createdAt} />
                    </td>
                    <td>{t.createdBy}</td>
                    <td>
                      <Time iso={t.expiresAt} />
                      {expired(t) && <span class="badge warn">expired</span>}
                    </td>
                    <td>
                      <Time iso={t.lastUsedAt} />
                    </td>
                    <td>{t.lastIp === null ? <span class="muted">—</span> : <code>{t.lastIp}</code>}</td>
                    <td>
                      <TokenPolicies token={t} />
                    </td>
                    <td class="row-actions">
                      <button type="button" class="small danger" onClick={() => setOpen({ kind: 'revoke', token: t })}>
                        Revoke
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {open?.kind === 'create' && <CreateToken onClose={close} onCreated={load.reload} />}
      {open?.kind === 'revoke' && (
        <Confirm
          title={`Revoke ${open.token.name}?`}
          confirm="Revoke"
          onClose={close}
          onConfirm={async () => {
            await api('DELETE', `/tokens/${seg(open.token.id)}`);
            load.reload();
          }}
        >
          <p>
            Requests with <strong>{open.token.name}</strong> (<code>{open.token.id}</code>) are refused from now on.
            This cannot be undone; its uses stay in the audit log.
          </p>
          {principal.type === 'token' && principal.name === open.token.name && (
            <p class="notice">
              You are signed in with a token of this name: if it is this one, revoking it signs you out.
            </p>
          )}
        </Confirm>
      )}
    </section>
  );
}

/**
 * A token's policies. The listing does not carry them; `GET /tokens/:id` does, but reading it is an audited request
 * per token, so it is made only when asked for rather than for every row on every visit.
 */
function TokenPolicies({ token }: { token: ApiToken }) {
  const [names, setNames] = useState<string[] | undefined>(token.policies);
  const read = useAction(async () => {
    const found = await api<{ policies: string[] }>('GET', `/tokens/${seg(token.id)}`);
    setNames(found.policies);
  });
  if (names !== undefined) return <PolicyPills names={names} />;
  return (
    <>
      <button
        type="button"
        class="small ghost"
        title="Read its policies (one audited request)"
        disabled={read.busy}
        onClick={() => void read.run()}
      >
        Show
      </button>
      <ErrorNote error={read.error} />
    </>
  );
}

function CreateToken({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [policies, setPolicies] = useState('');
  const [ttl, setTtl] = useState('');
  // The token lives only in this dialog's state: it goes with the dialog.
  const [created, setCreated] = useState<{ name: string; result: CreatedToken } | undefined>();
  const action = useAction(async () => {
    const seconds = parseDuration(ttl, 'TTL');
    const result = await api<CreatedToken>('POST', '/tokens', {
      body: { name: name.trim(), policies: parseList(policies), ...(seconds === undefined ? {} : { ttl: seconds }) },
    });
    setCreated({ name: name.trim(), result });
    onCreated();
  });
  if (created !== undefined) {
    return (
      <Dialog title="New token" onClose={onClose} wide>
        <p>
          <strong>{created.name}</strong> (<code>{created.result.id}</code>) was created; it{' '}
          {created.result.expiresAt === null ? (
            'does not expire'
          ) : (
            <>
              expires <Time iso={created.result.expiresAt} />
            </>
          )}
          .
        </p>
        <p class="notice" role="status">
          <strong>Copy the token now: it is not shown again.</strong> Keybox keeps only a hash of it; if it is lost,
          revoke it and make a new one.
        </p>
        <ShownOnce label="Token" value={created.result.token} />
        <p class="muted">
          Give it to the script as <code>KEYBOX_TOKEN</code> (or in a file named by <code>KEYBOX_TOKEN_FILE</code>);
          HTTP clients send it as <code>Authorization: Bearer …</code>, never in a URL.
        </p>
        <div class="buttons">
          <button type="button" class="primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title="New token" onClose={onClose}>
      <ActionForm action={action} submit="Create" onCancel={onClose}>
        <Field label="Name" hint="What it is for, e.g. deploy-script.">
          <input
            required
            autofocus
            autocomplete="off"
            spellcheck={false}
            maxLength={100}
            value={name}
            onInput={(e) => setName(valueOf(e))}
          />
        </Field>
        <Field label="Policies" hint="Separated by commas. Without any, the token can do nothing.">
          <input autocomplete="off" spellcheck={false} value={policies} onInput={(e) => setPolicies(valueOf(e))} />
        </Field>
        <ExistingPolicies />
        <Field label="TTL" hint="Optional: 90s, 15m, 1h, 7d, 2w or seconds. Empty: it does not expire.">
          <input autocomplete="off" spellcheck={false} value={ttl} onInput={(e) => setTtl(valueOf(e))} />
        </Field>
      </ActionForm>
    </Dialog>
  );
}
