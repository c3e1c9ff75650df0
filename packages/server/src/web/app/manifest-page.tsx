import type { StoredManifest, ManifestItemState as ManifestItem } from '../../core/manifests/manifest-service.js';
import type { ComponentChildren } from 'preact';
import { useRoute } from 'preact-iso';
import { api, ApiError, envPath } from './api.js';
import { EnvHeader, envHref } from './env-header.js';
import { Empty, PageTitle, Show, TableHead, Time, useLoad } from './ui.js';

/** No manifest pushed yet is a state of the environment, not an error: the server says it with a 404. */
async function loadManifest(project: string, env: string): Promise<StoredManifest | null> {
  try {
    return await api<StoredManifest>('GET', `${envPath(project, env)}/manifest`);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NOT_FOUND' && error.details?.['manifest'] === null) return null;
    throw error;
  }
}

export function ManifestPage() {
  const { params } = useRoute();
  const project = params['project'] ?? '';
  const env = params['env'] ?? '';
  const load = useLoad(() => loadManifest(project, env), [project, env]);
  return (
    <section>
      <EnvHeader project={project} env={env} tab="manifest" path="/" />
      <PageTitle>App manifest</PageTitle>
      <Show load={load}>
        {(stored) =>
          stored === null ? (
            <NoManifest project={project} env={env} />
          ) : (
            <ManifestView project={project} env={env} stored={stored} />
          )
        }
      </Show>
    </section>
  );
}

function NoManifest({ project, env }: { project: string; env: string }) {
  return (
    <div>
      <p class="notice">No manifest has been pushed for this environment yet.</p>
      <p>
        An app declares the secrets and settings it needs in <code>keybox.manifest.json</code>, next to its code (see
        the SDK's documentation). Pushed here, it shows which of them this environment holds, which required ones are
        missing, and which variables feed each one. From the app's repository, with admin rights on the environment:
      </p>
      <pre>{`keybox manifest validate keybox.manifest.json
keybox manifest push --manifest keybox.manifest.json --project ${project} --env ${env}`}</pre>
      <p>No manifest yet? Draft one from the names this environment already holds (values are never fetched):</p>
      <pre>{`keybox manifest init --project ${project} --env ${env} --path / --recursive`}</pre>
    </div>
  );
}

/** `A`, `A or B`, `A, B or C`, each in code. */
function either(names: readonly string[]): ComponentChildren {
  return names.map((n, i) => (
    <span key={n}>
      {i === 0 ? '' : i === names.length - 1 ? ' or ' : ', '}
      <code>{n}</code>
    </span>
  ));
}

/** The resolution order of `@keybox/sdk`, for one item: what to set to feed it. */
function Sources({ item }: { item: ManifestItem }) {
  const steps: ComponentChildren[] = [];
  if (item.envVars.length > 0) steps.push(<>the variable {either(item.envVars)}</>);
  if (item.fileVars.length > 0) steps.push(<>the file named by {either(item.fileVars)}</>);
  steps.push(item.envVars.length > 0 ? <>Keybox (as {either(item.envVars)})</> : 'Keybox');
  // The SDK reads the legacy store for secrets only: settings that are not secret stay the app's own business.
  if (item.secret) steps.push('its legacy source');
  return (
    <>
      First of:{' '}
      {steps.map((s, i) => (
        <span key={i}>
          {i === 0 ? '' : ', '}
          {s}
        </span>
      ))}
      .
    </>
  );
}

function Folders({ project, env, folders }: { project: string; env: string; folders: readonly string[] }) {
  if (folders.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {folders.map((f) => (
        <a key={f} class="pill mono" href={envHref(project, env, 'secrets', f)}>
          {f}
        </a>
      ))}
    </>
  );
}

function ManifestView({ project, env, stored }: { project: string; env: string; stored: StoredManifest }) {
  const { items, undeclared } = stored;
  const missing = items.filter((i) => i.required && !i.present);
  const present = items.filter((i) => i.present).length;
  const rotation = new Map(stored.manifest.items.map((i) => [i.name, i.rotation]));
  return (
    <>
      <p class="muted">
        Pushed by <strong>{stored.updatedBy}</strong> <Time iso={stored.updatedAt} />. Names only: whether a secret of
        that name exists in {env}, and in which folders (those you may list) — never a value.
      </p>
      <p role="status">
        {items.length} {items.length === 1 ? 'item' : 'items'} declared, {present} held in Keybox;{' '}
        {missing.length === 0 ? (
          <span class="badge ok">every required item is held</span>
        ) : (
          <span class="badge bad">
            {missing.length} required {missing.length === 1 ? 'item is' : 'items are'} missing
          </span>
        )}
        {undeclared.length > 0 && (
          <>
            ; {undeclared.length} {undeclared.length === 1 ? 'secret is' : 'secrets are'} held but not declared
          </>
        )}
        .
      </p>
      <p class="hint">
        For each item the app (through <code>@keybox/sdk</code>) takes the first of: the environment variable{' '}
        <code>X</code>, the file named by <code>X_FILE</code>, Keybox, its legacy source — so a host variable or file
        beats Keybox, and a stale one shadows it. Keybox is read in the app's own folder (<code>keybox run --path</code>{' '}
        or <code>KEYBOX_PATH</code>): a secret held only in another folder does not reach it.
      </p>
      {items.length === 0 ? (
        <Empty>The manifest declares no item.</Empty>
      ) : (
        <table>
          <TableHead columns={['Name', 'Required', 'In Keybox', 'Folders', 'Fed by']} />
          <tbody>
            {items.map((item) => {
              const rotate = rotation.get(item.name);
              return (
                <tr key={item.name}>
                  <th scope="row">
                    {/* Not <code>: it may break anywhere, and a name split over two lines misreads. */}
                    <span class="mono">{item.name}</span>
                    {!item.secret && <span class="badge">setting</span>}
                    {item.description !== undefined && item.description !== '' && (
                      <>
                        <br />
                        <small class="muted">{item.description}</small>
                      </>
                    )}
                    {rotate !== undefined && rotate !== '' && (
                      <>
                        <br />
                        <small class="muted">Rotation: {rotate}</small>
                      </>
                    )}
                  </th>
                  <td>{item.required ? 'required' : 'optional'}</td>
                  <td>
                    {item.present ? (
                      <span class="badge ok">present</span>
                    ) : item.required ? (
                      <span class="badge bad">missing</span>
                    ) : (
                      <span class="badge warn">not set</span>
                    )}
                  </td>
                  <td>
                    <Folders project={project} env={env} folders={item.folders} />
                  </td>
                  <td>
                    <Sources item={item} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      {/* The table above ends without a margin of its own. */}
      <h2 style={{ marginTop: '1.5rem' }}>Held in Keybox but not declared</h2>
      {undeclared.length === 0 ? (
        <Empty>Every secret in {env} is declared by the manifest.</Empty>
      ) : (
        <>
          <p class="muted">
            Secrets no item names: left over from an old version of the app, meant for another app, or missing from the
            manifest.
          </p>
          <table>
            <TableHead columns={['Name', 'Folders']} />
            <tbody>
              {undeclared.map((u) => (
                <tr key={u.name}>
                  <th scope="row">
                    <span class="mono">{u.name}</span>
                  </th>
                  <td>
                    <Folders project={project} env={env} folders={u.folders} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <details class="hint">
        <summary>From the command line</summary>
        <pre>{`keybox manifest status --project ${project} --env ${env}
keybox manifest push --manifest keybox.manifest.json --project ${project} --env ${env}`}</pre>
        <p>
          Inside the app's environment, <code>keybox check</code> shows which source actually feeds each item there.
        </p>
      </details>
    </>
  );
}
