import { useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api, envPath, orEmpty, type Folder, type FolderRevision } from './api.js';
import { EnvHeader, envHref, folderPathOf, PathCrumbs } from './env-header.js';
import { Dialog, Empty, ErrorNote, Show, TableHead, Time, useAction, useLoad } from './ui.js';

const OP: Record<FolderRevision['changes'][number]['op'], string> = {
  set: 'set',
  delete: 'deleted',
  rollback: 'restored',
};

/**
 * A folder's revisions, newest first: every write is one, with the names it changed. Restoring one writes a new
 * revision that puts the folder back as it was then (nothing is lost: the revisions after it stay in the history).
 */
export function FolderHistoryPage() {
  const { params } = useRoute();
  const { query } = useLocation();
  const project = params['project'] ?? '';
  const env = params['env'] ?? '';
  const path = folderPathOf(query);
  // A new folder is a new view: a Restore dialog opened for the last one must not act on this one.
  return <FolderHistory key={`${project}\n${env}\n${path}`} project={project} env={env} path={path} />;
}

function FolderHistory({ project, env, path }: { project: string; env: string; path: string }) {
  const base = envPath(project, env);
  const load = useLoad(async () => {
    const [history, folders] = await Promise.all([
      orEmpty(api<{ revisions: FolderRevision[] }>('GET', `${base}/folders/history`, { query: { path, limit: 100 } }), {
        revisions: [],
      }),
      orEmpty(api<{ folders: Folder[] }>('GET', `${base}/folders`, { query: { path } }), { folders: [] }),
    ]);
    return { revisions: history.revisions, current: folders.folders.find((f) => f.path === path)?.revision ?? 0 };
  }, [project, env, path]);
  const [restoring, setRestoring] = useState<FolderRevision | undefined>();
  return (
    <section>
      <EnvHeader project={project} env={env} tab="history" path={path} />
      <PathCrumbs project={project} env={env} path={path} tab="history" />
      <Show load={load}>
        {({ revisions, current }) =>
          revisions.length === 0 ? (
            <Empty>Nothing was ever written to {path}.</Empty>
          ) : (
            <table class="history">
              <TableHead columns={['Revision', 'When', 'By', 'Changes']} actions />
              <tbody>
                {revisions.map((r) => (
                  <tr key={r.revision}>
                    <th scope="row">
                      r{r.revision}
                      {r.revision === current && <span class="badge ok">current</span>}
                    </th>
                    <td>
                      <Time iso={r.createdAt} />
                    </td>
                    <td>{r.createdBy}</td>
                    <td>
                      <span class="muted">{r.action}</span>{' '}
                      {r.changes.map((c) => (
                        <span key={c.name} class="pill">
                          {c.name} {OP[c.op]} v{c.version}
                        </span>
                      ))}
                    </td>
                    <td class="row-actions">
                      {r.revision !== current && (
                        <button type="button" class="small" onClick={() => setRestoring(r)}>
                          Restore
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
      {restoring !== undefined && load.data !== undefined && (
        <RestoreRevision
          project={project}
          env={env}
          path={path}
          revision={restoring}
          current={load.data.current}
          onClose={() => setRestoring(undefined)}
          onRestored={load.reload}
        />
      )}
    </section>
  );
}

function RestoreRevision(props: {
  project: string;
  env: string;
  path: string;
  revision: FolderRevision;
  current: number;
  onClose: () => void;
  onRestored: () => void;
}) {
  const { project, env, path, revision, current, onClose, onRestored } = props;
  const action = useAction(async () => {
    // Check-and-set on the revision shown: a write since the page loaded makes this a CONFLICT, not a surprise.
    await api('POST', `${envPath(project, env)}/folders/rollback`, {
      query: { path },
      body: { toRevision: revision.revision, ifRevision: current },
    });
    onRestored();
    onClose();
  });
  return (
    <Dialog title={`Restore ${path} to r${revision.revision}?`} onClose={onClose}>
      <p>
        Every secret in <code>{path}</code> goes back to its value and presence at revision {revision.revision} (
        <Time iso={revision.createdAt} />
        ). This is a new revision: the ones after r{revision.revision} stay in the history. Processes get the restored
        values when they next start (or at once with <code>keybox run --watch</code>).
      </p>
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="primary" disabled={action.busy} onClick={() => void action.run()}>
          Restore
        </button>
      </div>
      <p class="muted">
        <a href={envHref(project, env, 'secrets', path)}>Back to the secrets</a>
      </p>
    </Dialog>
  );
}
