import type { ClientSecretInfo, IdentityInfo } from '@keybox/sdk';
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import {
  ActionForm,
  Confirm,
  CopyButton,
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
import { ExistingPolicies, formatDuration, parseDuration, parseList, PolicyPills, seg, StateBadge } from './shared.js';

/** What `POST /identities` answers: the only time the first client secret is ever sent. */
interface CreatedIdentity {
  identity: IdentityInfo;
  clientId: string;
  clientSecret: string;
  secretId: string;
  expiresAt: string | null;
}

/** What `POST /identities/:name/secrets` answers: the only time that client secret is ever sent. */
interface CreatedSecret {
  secretId: string;
  clientSecret: string;
  expiresAt: string | null;
}

const identityPath = (name: string) => `/identities/${seg(name)}`;

export function IdentitiesPage() {
  const load = useLoad(() => api<{ identities: IdentityInfo[] }>('GET', '/identities'), []);
  const [open, setOpen] = useState<
    { kind: 'create' } | { kind: 'secrets' | 'delete'; identity: IdentityInfo } | undefined
  >();
  const toggle = useAction(async (identity: IdentityInfo) => {
    await api('PATCH', identityPath(identity.name), { body: { disabled: !identity.disabled } });
    load.reload();
  });
  const close = () => setOpen(undefined);
  return (
    <section>
      <AccessHeader current="identities" newLabel="New identity" onNew={() => setOpen({ kind: 'create' })}>
        Services and CI jobs: each exchanges a client id and a client secret for a short-lived access token.
      </AccessHeader>
      <ErrorNote error={toggle.error} />
      <Show load={load}>
        {({ identities }) =>
          identities.length === 0 ? (
            <Empty>No machine identity yet. Create one for each service or CI job that needs secrets.</Empty>
          ) : (
            <table>
              <TableHead
                columns={[
                  'Name',
                  'Description',
                  'Policies',
                  'Token TTL / max',
                  'Uses',
                  'Trusted addresses',
                  'State',
                  'Created',
                ]}
                actions
              />
              <tbody>
                {identities.map((i) => (
                  <tr key={i.name}>
                    <th scope="row">{i.name}</th>
                    <td>{i.description === '' ? <span class="muted">—</span> : i.description}</td>
                    <td>
                      <PolicyPills names={i.policies} />
                    </td>
                    <td>
                      {formatDuration(i.tokenTtl)} / {formatDuration(i.tokenMaxTtl)}
                    </td>
                    <td>{i.tokenUses === 0 ? <span class="muted">unlimited</span> : i.tokenUses}</td>
                    <td>
                      {i.trustedCidrs.length === 0 ? (
                        <span class="muted">any</span>
                      ) : (
                        i.trustedCidrs.map((c, n) => (
                          <Fragment key={c}>
                            {n > 0 && ' '}
                            <code class="pill">{c}</code>
                          </Fragment>
                        ))
                      )}
                    </td>
                    <td>
                      <StateBadge disabled={i.disabled} />
                    </td>
                    <td>
                      <Time iso={i.createdAt} /> <span class="muted">by {i.createdBy}</span>
                    </td>
                    <td class="row-actions">
                      <button type="button" class="small" onClick={() => setOpen({ kind: 'secrets', identity: i })}>
                        Client secrets
                      </button>
                      <button
                        type="button"
                        class="small"
                        disabled={toggle.busy}
                        title={i.disabled ? 'Let it log in again' : 'Refuse its logins and revoke its access tokens'}
                        onClick={() => void toggle.run(i)}
                      >
                        {i.disabled ? 'Enable' : 'Disable'}
                      </button>
                      <button
                        type="button"
                        class="small danger"
                        onClick={() => setOpen({ kind: 'delete', identity: i })}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <UsageHint />
      {open?.kind === 'create' && <CreateIdentity onClose={close} onCreated={load.reload} />}
      {open?.kind === 'secrets' && <ClientSecrets identity={open.identity} onClose={close} />}
      {open?.kind === 'delete' && (
        <Confirm
          title={`Delete ${open.identity.name}?`}
          confirm="Delete"
          onClose={close}
          onConfirm={async () => {
            await api('DELETE', identityPath(open.identity.name));
            load.reload();
          }}
        >
          <p>
            <strong>{open.identity.name}</strong> can no longer log in: its client secrets stop working and its access
            tokens are revoked at once. This cannot be undone; to stop it for a while, disable it instead.
          </p>
        </Confirm>
      )}
    </section>
  );
}

/**
 * How a machine uses the pair. There is no `keybox login` for identities (that is for users): keybox and the SDK
 * read the pair from the environment and log in themselves (docs/access.md, cli/src/config/connection.ts).
 */
function UsageHint({ clientId }: { clientId?: string }) {
  const addr = window.location.origin;
  return (
    <details class="hint" open={clientId !== undefined}>
      <summary>Use an identity</summary>
      <p>
        Give the machine the server's address and the pair, the secret preferably in a file (mode 0600).{' '}
        <code>keybox run</code>, the other keybox commands and the SDK exchange it for a short-lived access token
        themselves:
      </p>
      <pre>{`KEYBOX_ADDR=${addr} \\
KEYBOX_CLIENT_ID=${clientId ?? 'kbi_…'} \\
KEYBOX_CLIENT_SECRET_FILE=/run/keybox/secret \\
  keybox run --project shop --env prod --path /backend -- ./server`}</pre>
      <p>
        <code>KEYBOX_CLIENT_SECRET</code> holds the secret itself instead of a file. Vault clients log in through
        AppRole with the client id as <code>role_id</code> and the client secret as <code>secret_id</code>.
      </p>
    </details>
  );
}

function OnceWarning({ what }: { what: string }) {
  return (
    <p class="notice" role="status">
      <strong>Copy the {what} now: it is not shown again.</strong> Keybox keeps only a hash of it; if it is lost, make a
      new one and revoke this one.
    </p>
  );
}

function CreateIdentity({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [policies, setPolicies] = useState('');
  const [ttl, setTtl] = useState('');
  const [cidrs, setCidrs] = useState('');
  // The secret lives only in this dialog's state: it goes with the dialog.
  const [created, setCreated] = useState<CreatedIdentity | undefined>();
  const action = useAction(async () => {
    const tokenTtl = parseDuration(ttl, 'Token TTL');
    const trustedCidrs = parseList(cidrs);
    const result = await api<CreatedIdentity>('POST', '/identities', {
      body: {
        name: name.trim(),
        ...(description.trim() === '' ? {} : { description: description.trim() }),
        policies: parseList(policies),
        ...(tokenTtl === undefined ? {} : { tokenTtl }),
        ...(trustedCidrs.length === 0 ? {} : { trustedCidrs }),
      },
    });
    setCreated(result);
    onCreated();
  });
  if (created !== undefined) {
    return (
      <Dialog title="New identity" onClose={onClose} wide>
        <p>
          <strong>{created.identity.name}</strong> was created with its first client secret
          {created.expiresAt !== null && (
            <>
              , which expires <Time iso={created.expiresAt} />
            </>
          )}
          .
        </p>
        <OnceWarning what="client secret" />
        <ShownOnce label="Client ID" value={created.clientId} />
        <ShownOnce label="Client secret" value={created.clientSecret} />
        <UsageHint clientId={created.clientId} />
        <div class="buttons">
          <button type="button" class="primary" onClick={onClose}>
            Done
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title="New identity" onClose={onClose} wide>
      <ActionForm action={action} submit="Create" onCancel={onClose}>
        <Field label="Name" hint="Lower-case letters, digits, ., - and _; e.g. backend-ci.">
          <input
            required
            autofocus
            autocomplete="off"
            spellcheck={false}
            maxLength={64}
            pattern="[a-z0-9]([a-z0-9._\-]*[a-z0-9])?"
            value={name}
            onInput={(e) => setName(valueOf(e))}
          />
        </Field>
        <Field label="Description" hint="Optional: what it is for.">
          <input maxLength={500} value={description} onInput={(e) => setDescription(valueOf(e))} />
        </Field>
        <Field label="Policies" hint="Separated by commas. Without any, it can log in but do nothing.">
          <input autocomplete="off" spellcheck={false} value={policies} onInput={(e) => setPolicies(valueOf(e))} />
        </Field>
        <ExistingPolicies />
        <Field label="Token TTL" hint="How long an access token lives: 90s, 15m, 1h, 7d or seconds. Empty: 1h.">
          <input autocomplete="off" spellcheck={false} value={ttl} onInput={(e) => setTtl(valueOf(e))} />
        </Field>
        <Field
          label="Trusted CIDRs"
          hint="Optional, separated by commas, e.g. 10.0.0.0/8: logins and access only from these addresses."
        >
          <input autocomplete="off" spellcheck={false} value={cidrs} onInput={(e) => setCidrs(valueOf(e))} />
        </Field>
      </ActionForm>
    </Dialog>
  );
}

function secretState(s: ClientSecretInfo) {
  if (s.revokedAt !== null) return <span class="badge bad">revoked</span>;
  if (s.expiresAt !== null && Date.parse(s.expiresAt) <= Date.now()) return <span class="badge warn">expired</span>;
  return <span class="badge ok">active</span>;
}

/** An identity's client secrets: several at once, so one can be rotated without downtime. */
function ClientSecrets({ identity, onClose }: { identity: IdentityInfo; onClose: () => void }) {
  const base = `${identityPath(identity.name)}/secrets`;
  const load = useLoad(() => api<{ secrets: ClientSecretInfo[] }>('GET', base), [base]);
  const [adding, setAdding] = useState(false);
  const [description, setDescription] = useState('');
  const [ttl, setTtl] = useState('');
  // The new secret lives only here: dropped by Done, and with the dialog.
  const [created, setCreated] = useState<CreatedSecret | undefined>();
  const [revoking, setRevoking] = useState<ClientSecretInfo | undefined>();
  const add = useAction(async () => {
    const seconds = parseDuration(ttl, 'Expires after');
    const result = await api<CreatedSecret>('POST', base, {
      body: {
        ...(description.trim() === '' ? {} : { description: description.trim() }),
        ...(seconds === undefined ? {} : { ttl: seconds }),
      },
    });
    setCreated(result);
    setAdding(false);
    setDescription('');
    setTtl('');
    load.reload();
  });
  return (
    <Dialog title={`Client secrets of ${identity.name}`} onClose={onClose} wide>
      <p>
        Client ID: <code>{identity.clientId}</code> <CopyButton text={() => Promise.resolve(identity.clientId)} />
      </p>
      <p class="muted">
        To rotate without downtime: make a new secret, deploy it, then revoke the old one (which also revokes the access
        tokens it got).
      </p>
      <Show load={load}>
        {({ secrets }) =>
          secrets.length === 0 ? (
            <Empty>No client secret: {identity.name} cannot log in until it gets one.</Empty>
          ) : (
            <table>
              <TableHead columns={['ID', 'Description', 'Created', 'Expires', 'Last used', 'State']} actions />
              <tbody>
                {secrets.map((s) => (
                  <tr key={s.id}>
                    <th scope="row">
                      <code>{s.id}</code>
                    </th>
                    <td>{s.description === '' ? <span class="muted">—</span> : s.description}</td>
                    <td>
                      <Time iso={s.createdAt} /> <span class="muted">by {s.createdBy}</span>
                    </td>
                    <td>
                      <Time iso={s.expiresAt} />
                    </td>
                    <td>
                      <Time iso={s.lastUsedAt} />
                    </td>
                    <td>
                      {secretState(s)}
                      {s.revokedAt !== null && (
                        <span class="muted">
                          {' '}
                          <Time iso={s.revokedAt} />
                        </span>
                      )}
                    </td>
                    <td class="row-actions">
                      {s.revokedAt === null && (
                        <button type="button" class="small danger" onClick={() => setRevoking(s)}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      {created !== undefined ? (
        <div>
          <OnceWarning what="client secret" />
          <ShownOnce label="Client secret" value={created.clientSecret} />
          {created.expiresAt !== null && (
            <p class="muted">
              It expires <Time iso={created.expiresAt} />.
            </p>
          )}
          <div class="buttons">
            <button type="button" class="primary" onClick={() => setCreated(undefined)}>
              Done
            </button>
          </div>
        </div>
      ) : adding ? (
        <ActionForm action={add} submit="Create" onCancel={() => setAdding(false)}>
          <h3>New client secret</h3>
          <Field label="Description" hint="Optional, e.g. where it is deployed.">
            <input autofocus maxLength={200} value={description} onInput={(e) => setDescription(valueOf(e))} />
          </Field>
          <Field label="Expires after" hint="Optional: 30d, 12h, 2w or seconds. Empty: it does not expire.">
            <input autocomplete="off" spellcheck={false} value={ttl} onInput={(e) => setTtl(valueOf(e))} />
          </Field>
        </ActionForm>
      ) : (
        <div class="buttons">
          <button type="button" class="primary" onClick={() => setAdding(true)}>
            New client secret
          </button>
        </div>
      )}
      {revoking !== undefined && (
        <Confirm
          title={`Revoke client secret ${revoking.id}?`}
          confirm="Revoke"
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await api('DELETE', `${base}/${seg(revoking.id)}`);
            load.reload();
          }}
        >
          <p>
            Logins with it are refused from now on, and the access tokens it got are revoked at once. Make sure every
            machine of <strong>{identity.name}</strong> has a newer secret first.
          </p>
        </Confirm>
      )}
    </Dialog>
  );
}
