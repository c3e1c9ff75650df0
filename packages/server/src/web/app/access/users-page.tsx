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
  TableHead,
  Time,
  useAction,
  useLoad,
  valueOf,
} from '../ui.js';
import { AccessHeader } from './access-nav.js';
import { ExistingPolicies, invalid, parseList, PolicyPills, seg, StateBadge } from './shared.js';

/** A user as the API lists it (core/auth/user-service.ts UserInfo). */
interface User {
  name: string;
  /** Whether the built-in admin policy is attached (what makes an admin). */
  admin: boolean;
  policies: string[];
  createdAt: string;
  createdBy: string;
  disabled: boolean;
  lastLoginAt: string | null;
}

/** The server's minimum (core/auth/password.ts), checked here too so the form can say so before sending. */
const PASSWORD_MIN = 12;

const userPath = (name: string) => `/users/${seg(name)}`;

export function UsersPage() {
  const { principal } = useSession();
  const isSelf = (u: User) => principal.type === 'user' && principal.name === u.name;
  const load = useLoad(() => api<{ users: User[] }>('GET', '/users'), []);
  const [open, setOpen] = useState<{ kind: 'create' } | { kind: 'password' | 'delete'; user: User } | undefined>();
  const toggle = useAction(async (user: User) => {
    await api('PATCH', userPath(user.name), { body: { disabled: !user.disabled } });
    load.reload();
  });
  const close = () => setOpen(undefined);
  return (
    <section>
      <AccessHeader current="users" newLabel="New user" onNew={() => setOpen({ kind: 'create' })}>
        People: they sign in here or with <code>keybox login --user NAME</code>, for a 12-hour session.
      </AccessHeader>
      <ErrorNote error={toggle.error} />
      <Show load={load}>
        {({ users }) =>
          users.length === 0 ? (
            <Empty>No user yet.</Empty>
          ) : (
            <table>
              <TableHead columns={['Name', 'Admin', 'Policies', 'State', 'Created', 'Last login']} actions />
              <tbody>
                {users.map((u) => {
                  const self = isSelf(u);
                  return (
                    <tr key={u.name}>
                      <th scope="row">
                        {u.name}
                        {self && <span class="muted"> (you)</span>}
                      </th>
                      <td>{u.admin ? <span class="badge warn">admin</span> : <span class="muted">no</span>}</td>
                      <td>
                        <PolicyPills names={u.policies} />
                      </td>
                      <td>
                        <StateBadge disabled={u.disabled} />
                      </td>
                      <td>
                        <Time iso={u.createdAt} /> <span class="muted">by {u.createdBy}</span>
                      </td>
                      <td>
                        <Time iso={u.lastLoginAt} />
                      </td>
                      <td class="row-actions">
                        <button type="button" class="small" onClick={() => setOpen({ kind: 'password', user: u })}>
                          Change password
                        </button>
                        {/* Disabling yourself would end this session and lock you out: another admin does it. */}
                        <button
                          type="button"
                          class="small"
                          disabled={toggle.busy || self}
                          title={
                            self
                              ? 'You cannot disable yourself'
                              : u.disabled
                                ? 'Let them sign in again'
                                : 'Refuse their sign-ins and end their sessions'
                          }
                          onClick={() => void toggle.run(u)}
                        >
                          {u.disabled ? 'Enable' : 'Disable'}
                        </button>
                        <button
                          type="button"
                          class="small danger"
                          disabled={self}
                          title={self ? 'You cannot delete yourself' : undefined}
                          onClick={() => setOpen({ kind: 'delete', user: u })}
                        >
                          Delete
                        </button>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Show>
      {open?.kind === 'create' && <CreateUser onClose={close} onCreated={load.reload} />}
      {open?.kind === 'password' && (
        <ChangePassword user={open.user} self={isSelf(open.user)} onClose={close} onChanged={load.reload} />
      )}
      {open?.kind === 'delete' && (
        <Confirm
          title={`Delete ${open.user.name}?`}
          confirm="Delete"
          onClose={close}
          onConfirm={async () => {
            await api('DELETE', userPath(open.user.name));
            load.reload();
          }}
        >
          <p>
            <strong>{open.user.name}</strong> can no longer sign in, and every session they have ends at once. This
            cannot be undone; to stop them for a while, disable them instead. What they wrote stays in the history and
            the audit log under their name.
          </p>
        </Confirm>
      )}
    </section>
  );
}

function CreateUser({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [policies, setPolicies] = useState('');
  const action = useAction(async () => {
    if (password.length < PASSWORD_MIN) throw invalid(`a password has at least ${PASSWORD_MIN} characters`);
    await api('POST', '/users', { body: { name: name.trim(), password, admin, policies: parseList(policies) } });
    setPassword('');
    onCreated();
    onClose();
  });
  return (
    <Dialog title="New user" onClose={onClose}>
      <ActionForm action={action} submit="Create" onCancel={onClose}>
        <Field label="Name" hint="Lower-case letters, digits, ., - and _; what they sign in with.">
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
        <Field label="Password" hint={`At least ${PASSWORD_MIN} characters. Give it to them privately.`}>
          <input
            type="password"
            required
            autocomplete="new-password"
            minLength={PASSWORD_MIN}
            maxLength={1024}
            value={password}
            onInput={(e) => setPassword(valueOf(e))}
          />
        </Field>
        <label class="check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} /> Admin
        </label>
        <p class="muted small">An admin can do everything, everywhere, including managing access.</p>
        <Field label="Policies" hint="Separated by commas, e.g. developer.">
          <input autocomplete="off" spellcheck={false} value={policies} onInput={(e) => setPolicies(valueOf(e))} />
        </Field>
        <ExistingPolicies />
      </ActionForm>
    </Dialog>
  );
}

function ChangePassword({
  user,
  self,
  onClose,
  onChanged,
}: {
  user: User;
  self: boolean;
  onClose: () => void;
  onChanged: () => void;
}) {
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const action = useAction(async () => {
    if (password.length < PASSWORD_MIN) throw invalid(`a password has at least ${PASSWORD_MIN} characters`);
    await api('PATCH', userPath(user.name), {
      body: { password, ...(self ? { currentPassword: current } : {}) },
    });
    setCurrent('');
    setPassword('');
    onClose();
    // Your own new password ends this session too: the reload meets a 401 and the app goes back to sign-in.
    onChanged();
  });
  return (
    <Dialog title={`Change the password of ${user.name}`} onClose={onClose}>
      <ActionForm action={action} submit="Change password" onCancel={onClose}>
        {self && (
          <Field label="Current password">
            <input
              type="password"
              required
              autofocus
              autocomplete="current-password"
              value={current}
              onInput={(e) => setCurrent(valueOf(e))}
            />
          </Field>
        )}
        <Field label="New password" hint={`At least ${PASSWORD_MIN} characters.`}>
          <input
            type="password"
            required
            autofocus={!self}
            autocomplete="new-password"
            minLength={PASSWORD_MIN}
            maxLength={1024}
            value={password}
            onInput={(e) => setPassword(valueOf(e))}
          />
        </Field>
        <p class="muted">
          {self
            ? 'Every session of yours ends, this one too: you sign in again with the new password.'
            : `Every session of ${user.name} ends at once.`}
        </p>
      </ActionForm>
    </Dialog>
  );
}
