import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, type Project } from '../api.js';
import { ActionForm, Confirm, Dialog, Empty, Field, Show, Time, useAction, useLoad, valueOf } from '../ui.js';
import { AccessHeader } from './access-nav.js';
import { invalid, seg, type Policy, type PolicyRule } from './shared.js';

/*
 * The role templates the server knows (ROLE_TEMPLATES in core/policy/builtin-policies.ts; PUT /policies/:name
 * refuses any other role). `scope` says which parts of { project, env, path } the template uses: project-admin
 * ignores the environment and the path.
 */
const ROLES = [
  { role: 'ci-reader', summary: 'read and list one folder and every folder below it', scope: 'folder' },
  { role: 'project-admin', summary: 'everything in one project', scope: 'project' },
] as const;
type Role = (typeof ROLES)[number]['role'];

/** The server's policy name rule (core/policy/policy-service.ts). */
const NAME_PATTERN = '[a-z0-9]([a-z0-9_\\-]{0,62}[a-z0-9])?';

export function PoliciesPage() {
  const load = useLoad(() => api<{ policies: Policy[] }>('GET', '/policies'), []);
  const [open, setOpen] = useState<{ kind: 'create' } | { kind: 'delete'; policy: Policy } | undefined>();
  const close = () => setOpen(undefined);
  return (
    <section>
      <AccessHeader current="policies" newLabel="New policy" onNew={() => setOpen({ kind: 'create' })}>
        Deny by default: a request is allowed when a rule of the caller's policies allows it and no rule denies it (a
        deny always wins). Attach policies to identities, users and tokens when you create them.
      </AccessHeader>
      <Show load={load}>
        {({ policies }) =>
          policies.length === 0 ? (
            <Empty>No policy.</Empty>
          ) : (
            <ul class="cards">
              {policies.map((p) => (
                <li key={p.name} class="card">
                  <h2>
                    {p.name} {p.builtin && <span class="badge">built in</span>}
                  </h2>
                  {p.description !== '' && <p>{p.description}</p>}
                  <Rules rules={p.rules} />
                  <p class="muted small">
                    {p.builtin ? (
                      'Built in: it cannot be changed or deleted.'
                    ) : (
                      <>
                        Changed <Time iso={p.updatedAt} /> by {p.updatedBy}
                      </>
                    )}
                  </p>
                  {!p.builtin && (
                    <div class="row-actions">
                      <button type="button" class="small danger" onClick={() => setOpen({ kind: 'delete', policy: p })}>
                        Delete
                      </button>
                    </div>
                  )}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      {open?.kind === 'create' && (
        <CreatePolicy existing={load.data?.policies.map((p) => p.name) ?? []} onClose={close} onCreated={load.reload} />
      )}
      {open?.kind === 'delete' && (
        <Confirm
          title={`Delete ${open.policy.name}?`}
          confirm="Delete"
          onClose={close}
          onConfirm={async () => {
            await api('DELETE', `/policies/${seg(open.policy.name)}`);
            load.reload();
          }}
        >
          <p>
            <strong>{open.policy.name}</strong> is detached from every identity, user and token that has it: they lose
            what it allowed on their next request. This cannot be undone.
          </p>
        </Confirm>
      )}
    </section>
  );
}

/** `['*']` → "any project", `['shop']` → "project shop", `['a', 'b']` → "projects a, b". */
function scopeWords(list: readonly string[], what: string): string {
  if (list.includes('*')) return `any ${what}`;
  return `${what}${list.length > 1 ? 's' : ''} ${list.join(', ')}`;
}

/** A folder glob in words (core/policy/path-glob.ts): `*` and `**` stand for whole segments, `**` only last. */
function folderWords(glob: string): string | undefined {
  if (glob === '/**') return 'every folder';
  if (glob.includes('*') && !/^(\/[^*/]+)*\/\*\*?$/.test(glob)) return undefined;
  if (glob.endsWith('/**')) return `${glob.slice(0, -3)} and every folder below it`;
  if (glob === '/*') return 'the folders directly in /';
  if (glob.endsWith('/*')) return `the folders directly in ${glob.slice(0, -2)}`;
  return `${glob} only`;
}

/** One sentence per rule ("allow read, list in project shop, environment prod, at /backend/**"): cards are narrow. */
function Rules({ rules }: { rules: readonly PolicyRule[] }) {
  if (rules.length === 0) return <p class="muted">No rules: it allows nothing.</p>;
  return (
    <ul>
      {rules.map((r, i) => (
        <li key={i}>
          {r.effect === 'deny' ? <span class="badge bad">deny</span> : <span class="badge ok">allow</span>}{' '}
          <strong>{r.capabilities.join(', ')}</strong> in {scopeWords(r.projects, 'project')},{' '}
          {scopeWords(r.environments, 'environment')}, at{' '}
          {r.paths.map((glob, n) => {
            const words = folderWords(glob);
            return (
              <Fragment key={glob}>
                {n > 0 && ', '}
                <code>{glob}</code>
                {words !== undefined && <span class="muted"> ({words})</span>}
              </Fragment>
            );
          })}
        </li>
      ))}
    </ul>
  );
}

/** `backend/` → `/backend`, as the ci-reader template needs it (it appends `/**`; an empty segment is refused). */
function normalizeFolder(text: string): string {
  const parts = text.split('/').filter((s) => s !== '');
  return `/${parts.join('/')}`;
}

function CreatePolicy({
  existing,
  onClose,
  onCreated,
}: {
  existing: readonly string[];
  onClose: () => void;
  onCreated: () => void;
}) {
  const projects = useLoad(() => api<{ projects: Project[] }>('GET', '/projects'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('ci-reader');
  const [project, setProject] = useState('');
  const [env, setEnv] = useState('');
  const [path, setPath] = useState('/');
  const [description, setDescription] = useState('');
  const folderScope = role === 'ci-reader';
  const envs = projects.data?.projects.find((p) => p.slug === project.trim())?.environments ?? [];
  const action = useAction(async () => {
    const policyName = name.trim();
    // PUT creates or replaces: without this, "New policy" with a taken name would silently rewrite that policy.
    if (existing.includes(policyName)) {
      throw invalid(`a policy named "${policyName}" already exists: choose another name, or delete that one first`);
    }
    const scope = folderScope
      ? { project: project.trim(), env: env.trim(), path: normalizeFolder(path) }
      : // project-admin uses only the project; the API still wants all three.
        { project: project.trim(), env: '*', path: '/' };
    await api('PUT', `/policies/${seg(policyName)}`, {
      body: { role, scope, ...(description.trim() === '' ? {} : { description: description.trim() }) },
    });
    onCreated();
    onClose();
  });
  const chosen = ROLES.find((r) => r.role === role);
  return (
    <Dialog title="New policy" onClose={onClose} wide>
      <ActionForm action={action} submit="Create" onCancel={onClose}>
        <Field label="Name" hint="Lower-case letters, digits, - and _; e.g. ci-backend.">
          <input
            required
            autofocus
            autocomplete="off"
            spellcheck={false}
            maxLength={64}
            pattern={NAME_PATTERN}
            value={name}
            onInput={(e) => setName(valueOf(e))}
          />
        </Field>
        <Field label="Role">
          {/* Named explicitly: a label's text includes its options', and "project-admin" would answer to "Project". */}
          <select aria-label="Role" value={role} onChange={(e) => setRole(valueOf(e) as Role)}>
            {ROLES.map((r) => (
              <option key={r.role} value={r.role}>
                {r.role}: {r.summary}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Project" hint="A project slug, or * for all of them.">
          <input
            required
            autocomplete="off"
            spellcheck={false}
            list="policy-projects"
            value={project}
            onInput={(e) => setProject(valueOf(e))}
          />
        </Field>
        <datalist id="policy-projects">
          {(projects.data?.projects ?? []).map((p) => (
            <option key={p.slug} value={p.slug}>
              {p.name}
            </option>
          ))}
        </datalist>
        {folderScope && (
          <>
            <Field label="Environment" hint="An environment slug, or * for every one.">
              <input
                required
                autocomplete="off"
                spellcheck={false}
                list="policy-envs"
                value={env}
                onInput={(e) => setEnv(valueOf(e))}
              />
            </Field>
            <datalist id="policy-envs">
              {envs.map((e) => (
                <option key={e.slug} value={e.slug}>
                  {e.name}
                </option>
              ))}
            </datalist>
            <Field label="Path" hint="A folder, e.g. /backend: it and every folder below it. / is all of them.">
              <input required autocomplete="off" spellcheck={false} value={path} onInput={(e) => setPath(valueOf(e))} />
            </Field>
          </>
        )}
        <Field label="Description" hint="Optional: Keybox writes one otherwise.">
          <input maxLength={500} value={description} onInput={(e) => setDescription(valueOf(e))} />
        </Field>
        {chosen !== undefined && (
          <p class="muted">
            {chosen.role === 'ci-reader' ? (
              <>
                Allows <strong>read</strong> and <strong>list</strong> in {project.trim() || '…'} / {env.trim() || '…'},
                folder {normalizeFolder(path)} and every folder below it.
              </>
            ) : (
              <>
                Allows <strong>everything</strong> (read, list, write, delete, admin) in {project.trim() || '…'}.
              </>
            )}
          </p>
        )}
      </ActionForm>
    </Dialog>
  );
}
