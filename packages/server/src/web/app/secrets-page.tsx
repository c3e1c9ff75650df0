import { useEffect, useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import {
  api,
  ApiError,
  envPath,
  orEmpty,
  type BatchResult,
  type Folder,
  type SecretMeta,
  type SecretVersion,
} from './api.js';
import { EnvHeader, envHref, folderPathOf, folderTree, loadFolders, PathCrumbs } from './env-header.js';
import {
  ActionForm,
  Confirm,
  CopyButton,
  Dialog,
  Empty,
  ErrorNote,
  Field,
  Loading,
  Show,
  TableHead,
  Time,
  useAction,
  useLoad,
  valueOf,
} from './ui.js';

interface Scope {
  project: string;
  env: string;
  path: string;
}

const secretsPath = (s: Scope, name?: string) =>
  `${envPath(s.project, s.env)}/secrets${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

/** One value, read when asked (each read is audited), kept only while it is shown. */
function readValue(scope: Scope, name: string, version?: number): Promise<string> {
  return api<{ secret: { value: string } }>('GET', secretsPath(scope, name), {
    query: { path: scope.path, version },
  }).then((r) => r.secret.value);
}

export function SecretsPage() {
  const { params } = useRoute();
  const { query } = useLocation();
  const scope: Scope = { project: params['project'] ?? '', env: params['env'] ?? '', path: folderPathOf(query) };
  // A new scope is a new view: no value shown, dialog open or row loaded for the last one carries over.
  return <SecretsView key={`${scope.project}\n${scope.env}\n${scope.path}`} scope={scope} />;
}

function SecretsView({ scope }: { scope: Scope }) {
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((t) => t + 1);
  const folders = useLoad(
    () => orEmpty(loadFolders(scope.project, scope.env), { folders: [] as Folder[] }),
    [scope.project, scope.env, tick],
  );
  const secrets = useLoad(
    () =>
      orEmpty(
        api<{ secrets: SecretMeta[] }>('GET', secretsPath(scope), { query: { path: scope.path, deleted: true } }),
        { secrets: [] as SecretMeta[] },
      ),
    [scope.project, scope.env, scope.path, tick],
  );
  const [showDeleted, setShowDeleted] = useState(false);
  const [adding, setAdding] = useState(false);
  const [newFolder, setNewFolder] = useState(false);
  const all = secrets.data?.secrets ?? [];
  const shown = all.filter((s) => showDeleted || !s.deleted);
  const deletedCount = all.filter((s) => s.deleted).length;

  return (
    <section>
      <EnvHeader project={scope.project} env={scope.env} tab="secrets" path={scope.path} />
      <div class="split">
        <aside class="folders" aria-label="Folders">
          <h2>Folders</h2>
          <Show load={folders}>
            {({ folders: list }) => (
              <ul>
                {folderTree(list).map((f) => (
                  <li key={f.path} style={{ paddingLeft: `${f.depth * 0.9}rem` }}>
                    <a
                      href={envHref(scope.project, scope.env, 'secrets', f.path)}
                      aria-current={f.path === scope.path ? 'page' : undefined}
                    >
                      {f.path === '/' ? '/' : f.path.slice(f.path.lastIndexOf('/') + 1)}
                    </a>{' '}
                    <span class="count">{f.folder?.secretCount ?? 0}</span>
                  </li>
                ))}
              </ul>
            )}
          </Show>
          <button type="button" class="small" onClick={() => setNewFolder(true)}>
            New folder
          </button>
        </aside>
        <div class="main-col">
          <div class="toolbar">
            <PathCrumbs project={scope.project} env={scope.env} path={scope.path} tab="secrets" />
            <div class="actions">
              {deletedCount > 0 && (
                <label class="check">
                  <input
                    type="checkbox"
                    checked={showDeleted}
                    onChange={(e) => setShowDeleted(e.currentTarget.checked)}
                  />{' '}
                  Show deleted ({deletedCount})
                </label>
              )}
              <button type="button" class="primary" onClick={() => setAdding(true)}>
                Add secret
              </button>
            </div>
          </div>
          <Show load={secrets}>
            {() =>
              shown.length === 0 ? (
                <Empty>
                  No secrets in <code>{scope.path}</code>. Add one here, or from the CLI:{' '}
                  <code>
                    keybox secrets set NAME=- --project {scope.project} --env {scope.env} --path {scope.path}
                  </code>
                </Empty>
              ) : (
                <SecretsTable scope={scope} secrets={shown} onChanged={refresh} />
              )
            }
          </Show>
          <RunHint scope={scope} />
        </div>
      </div>
      {adding && <SecretEditor scope={scope} existing={all} onClose={() => setAdding(false)} onSaved={refresh} />}
      {newFolder && <NewFolder scope={scope} onClose={() => setNewFolder(false)} />}
    </section>
  );
}

function RunHint({ scope }: { scope: Scope }) {
  return (
    <details class="hint">
      <summary>Use these secrets</summary>
      <p>Start a process with this folder's secrets in its environment:</p>
      <pre>{`keybox run --project ${scope.project} --env ${scope.env} --path ${scope.path} -- node server.js`}</pre>
      <p>
        Or write them to files for the <code>NAME_FILE</code> pattern:{' '}
        <code>
          keybox agent --project {scope.project} --env {scope.env} --path {scope.path} --dir /run/secrets
        </code>
      </p>
    </details>
  );
}

function SecretsTable({ scope, secrets, onChanged }: { scope: Scope; secrets: SecretMeta[]; onChanged: () => void }) {
  const [open, setOpen] = useState<{ kind: 'edit' | 'delete' | 'history'; secret: SecretMeta } | undefined>();
  return (
    <>
      <table class="secrets">
        <TableHead columns={['Name', 'Value', 'Version', 'Updated']} actions />
        <tbody>
          {secrets.map((s) => (
            <tr key={s.name} class={s.deleted ? 'deleted' : undefined}>
              <th scope="row">
                <code>{s.name}</code>
              </th>
              <td>{s.deleted ? <span class="muted">deleted</span> : <ValueCell scope={scope} secret={s} />}</td>
              <td>v{s.version}</td>
              <td>
                <Time iso={s.updatedAt} /> <span class="muted">by {s.updatedBy}</span>
              </td>
              <td class="row-actions">
                {!s.deleted && (
                  <button type="button" class="small" onClick={() => setOpen({ kind: 'edit', secret: s })}>
                    Edit
                  </button>
                )}
                <button type="button" class="small" onClick={() => setOpen({ kind: 'history', secret: s })}>
                  History
                </button>
                {!s.deleted && (
                  <button type="button" class="small danger" onClick={() => setOpen({ kind: 'delete', secret: s })}>
                    Delete
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open?.kind === 'edit' && (
        <SecretEditor
          scope={scope}
          existing={secrets}
          secret={open.secret}
          onClose={() => setOpen(undefined)}
          onSaved={onChanged}
        />
      )}
      {open?.kind === 'delete' && (
        <DeleteSecret scope={scope} secret={open.secret} onClose={() => setOpen(undefined)} onDeleted={onChanged} />
      )}
      {open?.kind === 'history' && (
        <SecretHistory scope={scope} secret={open.secret} onClose={() => setOpen(undefined)} onChanged={onChanged} />
      )}
    </>
  );
}

/** Masked until asked; the value read is dropped again after a minute or on Hide. */
function ValueCell({ scope, secret }: { scope: Scope; secret: SecretMeta }) {
  const [value, setValue] = useState<string | undefined>();
  const reveal = useAction(async () => setValue(await readValue(scope, secret.name)));
  useEffect(() => {
    if (value === undefined) return;
    const timer = setTimeout(() => setValue(undefined), 60_000);
    return () => clearTimeout(timer);
  }, [value]);
  useEffect(() => setValue(undefined), [secret.version, scope.project, scope.env, scope.path]);
  return (
    <div class="value">
      {value === undefined ? (
        <span class="masked" aria-label="hidden value">
          ••••••••
        </span>
      ) : (
        <code class="revealed">{value}</code>
      )}
      <button
        type="button"
        class="small"
        aria-label={value === undefined ? `Show ${secret.name}` : `Hide ${secret.name}`}
        disabled={reveal.busy}
        onClick={() => (value === undefined ? void reveal.run() : setValue(undefined))}
      >
        {value === undefined ? 'Show' : 'Hide'}
      </button>
      <CopyButton text={() => readValue(scope, secret.name)} />
      <ErrorNote error={reveal.error} />
    </div>
  );
}

/** Adds a secret (no `secret`) or gives an existing one a new value, with check-and-set on its version. */
function SecretEditor({
  scope,
  existing,
  secret,
  onClose,
  onSaved,
}: {
  scope: Scope;
  existing: SecretMeta[];
  secret?: SecretMeta;
  onClose: () => void;
  onSaved: () => void;
}) {
  const [name, setName] = useState(secret?.name ?? '');
  const [value, setValue] = useState('');
  const [loadedCurrent, setLoadedCurrent] = useState(false);
  const load = useAction(async () => {
    if (secret === undefined) return;
    setValue(await readValue(scope, secret.name));
    setLoadedCurrent(true);
  });
  const save = useAction(async () => {
    const found = existing.find((s) => s.name === name);
    if (secret === undefined && found !== undefined && !found.deleted) {
      throw new ApiError(
        409,
        'CONFLICT',
        `${name} already exists in ${scope.path}: edit it instead`,
        undefined,
        undefined,
      );
    }
    // A new name must not exist yet (version 0, or the version that deleted it); an edit must find the version shown.
    const ifVersion = secret?.version ?? found?.version ?? 0;
    await api<BatchResult>('PUT', secretsPath(scope, name), {
      query: { path: scope.path },
      body: { value, ifVersion },
    });
    setValue('');
    onSaved();
    onClose();
  });
  return (
    <Dialog
      title={secret === undefined ? `Add a secret to ${scope.path}` : `New value for ${secret.name}`}
      onClose={onClose}
      wide
    >
      <ActionForm
        action={save}
        submit="Save"
        onCancel={onClose}
        error={load.error ?? save.error}
        disabled={name === ''}
      >
        {secret === undefined && (
          <Field label="Name" hint="Letters, digits and _, not starting with a digit: the environment variable's name.">
            <input
              name="name"
              required
              autofocus
              autocomplete="off"
              spellcheck={false}
              pattern="[A-Za-z_][A-Za-z0-9_]*"
              value={name}
              onInput={(e) => setName(valueOf(e))}
            />
          </Field>
        )}
        <Field
          label="Value"
          hint={
            secret === undefined
              ? 'Stored encrypted; every read is in the audit log.'
              : `Replaces v${secret.version}; the old value stays in the history.`
          }
        >
          <textarea
            name="value"
            rows={4}
            autocomplete="off"
            spellcheck={false}
            class="mono"
            autofocus={secret !== undefined}
            value={value}
            onInput={(e) => setValue(valueOf(e))}
          />
        </Field>
        {secret !== undefined && !loadedCurrent && (
          <button type="button" class="small" onClick={() => void load.run()} disabled={load.busy}>
            Start from the current value
          </button>
        )}
      </ActionForm>
    </Dialog>
  );
}

function DeleteSecret({
  scope,
  secret,
  onClose,
  onDeleted,
}: {
  scope: Scope;
  secret: SecretMeta;
  onClose: () => void;
  onDeleted: () => void;
}) {
  return (
    <Confirm
      title={`Delete ${secret.name}?`}
      confirm="Delete"
      onConfirm={async () => {
        await api<BatchResult>('DELETE', secretsPath(scope, secret.name), {
          query: { path: scope.path, ifVersion: secret.version },
        });
        onDeleted();
      }}
      onClose={onClose}
    >
      <p>
        <code>{secret.name}</code> goes from <code>{scope.path}</code> in {scope.env}: processes started from now on do
        not get it. Its versions stay in the history, from where it can be restored.
      </p>
    </Confirm>
  );
}

const OP_LABEL: Record<SecretVersion['op'], string> = { set: 'set', delete: 'deleted', rollback: 'restored' };

function SecretHistory({
  scope,
  secret,
  onClose,
  onChanged,
}: {
  scope: Scope;
  secret: SecretMeta;
  onClose: () => void;
  onChanged: () => void;
}) {
  const load = useLoad(
    () =>
      api<{ versions: SecretVersion[] }>('GET', `${secretsPath(scope, secret.name)}/versions`, {
        query: { path: scope.path },
      }),
    [secret.name, secret.version],
  );
  const [shown, setShown] = useState<{ version: number; value: string } | undefined>();
  const reveal = useAction(async (version: number) =>
    setShown({ version, value: await readValue(scope, secret.name, version) }),
  );
  const restore = useAction(async (version: number) => {
    await api<BatchResult>('POST', `${secretsPath(scope, secret.name)}/rollback`, {
      query: { path: scope.path },
      body: { toVersion: version, ifVersion: secret.version },
    });
    onChanged();
    onClose();
  });
  return (
    <Dialog title={`History of ${secret.name}`} onClose={onClose} wide>
      <Show load={load}>
        {({ versions }) => (
          <table>
            <TableHead columns={['Version', 'Change', 'When', 'By']} actions />
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <td>
                    v{v.version}
                    {v.version === secret.version && <span class="badge ok">current</span>}
                  </td>
                  <td>
                    {OP_LABEL[v.op]}
                    {v.restoredFrom !== null && ` v${v.restoredFrom}`}
                    {v.destroyed && <span class="muted"> (value destroyed)</span>}
                  </td>
                  <td>
                    <Time iso={v.createdAt} />
                  </td>
                  <td>{v.createdBy}</td>
                  <td class="row-actions">
                    {v.op !== 'delete' && !v.destroyed && (
                      <>
                        {shown?.version === v.version ? (
                          <button type="button" class="small" onClick={() => setShown(undefined)}>
                            Hide
                          </button>
                        ) : (
                          <button type="button" class="small" onClick={() => void reveal.run(v.version)}>
                            Show
                          </button>
                        )}
                        {v.version !== secret.version && (
                          <button
                            type="button"
                            class="small"
                            disabled={restore.busy}
                            onClick={() => void restore.run(v.version)}
                          >
                            Restore
                          </button>
                        )}
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
      {shown !== undefined && (
        <p class="history-value">
          v{shown.version}: <code class="revealed">{shown.value}</code>
        </p>
      )}
      <ErrorNote error={reveal.error ?? restore.error} />
      {reveal.busy && <Loading what="the value" />}
    </Dialog>
  );
}

function NewFolder({ scope, onClose }: { scope: Scope; onClose: () => void }) {
  const { route } = useLocation();
  const [name, setName] = useState('');
  return (
    <Dialog title={`New folder in ${scope.path}`} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const path = `${scope.path === '/' ? '' : scope.path}/${name.replace(/^\/+|\/+$/g, '')}`;
          onClose();
          route(envHref(scope.project, scope.env, 'secrets', path));
        }}
      >
        <Field label="Name" hint="A folder exists once it holds a secret: add one on the next page.">
          <input required autofocus value={name} onInput={(e) => setName(valueOf(e))} pattern="[A-Za-z0-9._\-\/]+" />
        </Field>
        <div class="buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Open
          </button>
        </div>
      </form>
    </Dialog>
  );
}
