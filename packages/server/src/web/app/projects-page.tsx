import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, type Project } from './api.js';
import { useSession } from './session.js';
import { ActionForm, Dialog, Empty, Field, PageTitle, Show, Time, useAction, useLoad, valueOf } from './ui.js';

export function ProjectsPage() {
  const { admin } = useSession();
  const load = useLoad(() => api<{ projects: Project[] }>('GET', '/projects'), []);
  const [creating, setCreating] = useState(false);
  return (
    <section>
      <PageTitle
        actions={
          admin && (
            <button type="button" class="primary" onClick={() => setCreating(true)}>
              New project
            </button>
          )
        }
      >
        Projects
      </PageTitle>
      <Show load={load}>
        {({ projects }) =>
          projects.length === 0 ? (
            <Empty>
              No project you can see yet. {admin ? 'Create one to start.' : 'Ask an admin for access to one.'}
            </Empty>
          ) : (
            <ul class="cards">
              {projects.map((p) => (
                <li key={p.slug} class="card">
                  <h2>
                    <a
                      href={`/ui/projects/${encodeURIComponent(p.slug)}/${encodeURIComponent(p.environments[0]?.slug ?? '')}`}
                    >
                      {p.name}
                    </a>
                  </h2>
                  <p class="muted">
                    <code>{p.slug}</code> · created <Time iso={p.createdAt} />
                  </p>
                  <p class="envs">
                    {p.environments.map((e) => (
                      <a
                        key={e.slug}
                        class="pill"
                        href={`/ui/projects/${encodeURIComponent(p.slug)}/${encodeURIComponent(e.slug)}`}
                      >
                        {e.name}
                      </a>
                    ))}
                  </p>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      {creating && <CreateProject onClose={() => setCreating(false)} onCreated={load.reload} />}
    </section>
  );
}

function CreateProject({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const { route } = useLocation();
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [envs, setEnvs] = useState('dev, staging, prod');
  const action = useAction(async () => {
    const environments = envs.split(/[\s,]+/).filter((e) => e !== '');
    const created = await api<{ project: Project }>('POST', '/projects', {
      body: { slug, ...(name.trim() === '' ? {} : { name: name.trim() }), environments },
    });
    onCreated();
    onClose();
    const first = created.project.environments[0]?.slug;
    if (first !== undefined) route(`/ui/projects/${encodeURIComponent(slug)}/${encodeURIComponent(first)}`);
  });
  return (
    <Dialog title="New project" onClose={onClose}>
      <ActionForm action={action} submit="Create" onCancel={onClose}>
        <Field label="Slug" hint="Lower-case letters, digits and -: what --project takes.">
          <input required autofocus value={slug} onInput={(e) => setSlug(valueOf(e))} pattern="[a-z0-9][a-z0-9\-]*" />
        </Field>
        <Field label="Display name" hint="Optional; the slug otherwise.">
          <input value={name} onInput={(e) => setName(valueOf(e))} />
        </Field>
        <Field label="Environments" hint="Slugs, separated by commas.">
          <input value={envs} onInput={(e) => setEnvs(valueOf(e))} />
        </Field>
      </ActionForm>
    </Dialog>
  );
}
