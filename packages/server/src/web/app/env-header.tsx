import { api, envPath, type Folder, type Project } from './api.js';
import { ErrorNote, useLoad } from './ui.js';

export type EnvTab = 'secrets' | 'history' | 'manifest';

/** `/ui/projects/:project/:env[/history|/manifest]` with the folder path as `?path=` (names only: no value). */
export function envHref(project: string, env: string, tab: EnvTab = 'secrets', path?: string): string {
  const base = `/ui/projects/${encodeURIComponent(project)}/${encodeURIComponent(env)}`;
  const page = tab === 'secrets' ? base : `${base}/${tab}`;
  return path === undefined || path === '/' ? page : `${page}?path=${encodeURIComponent(path)}`;
}

/** The folder path from the page's query, as the API wants it: `/`, `/backend`, `/backend/api`. */
export function folderPathOf(query: Record<string, string>): string {
  const raw = query['path'] ?? '/';
  const trimmed = `/${raw
    .split('/')
    .filter((s) => s !== '')
    .join('/')}`;
  return trimmed;
}

/** The project's name, its environments as tabs, and the pages of one environment. */
export function EnvHeader({ project, env, tab, path }: { project: string; env: string; tab: EnvTab; path: string }) {
  const load = useLoad(() => api<{ project: Project }>('GET', `/projects/${encodeURIComponent(project)}`), [project]);
  const info = load.data?.project;
  return (
    <div class="env-header">
      <p class="crumbs">
        <a href="/ui/projects">Projects</a> / <strong>{info?.name ?? project}</strong>
      </p>
      <ErrorNote error={load.error} />
      <nav class="tabs env-tabs" aria-label="Environments">
        {(info?.environments ?? []).map((e) => (
          <a
            key={e.slug}
            href={envHref(project, e.slug, tab, tab === 'manifest' ? undefined : path)}
            aria-current={e.slug === env ? 'page' : undefined}
          >
            {e.name}
          </a>
        ))}
      </nav>
      <nav class="subtabs" aria-label="Environment pages">
        <a href={envHref(project, env, 'secrets', path)} aria-current={tab === 'secrets' ? 'page' : undefined}>
          Secrets
        </a>
        <a href={envHref(project, env, 'history', path)} aria-current={tab === 'history' ? 'page' : undefined}>
          Folder history
        </a>
        <a href={envHref(project, env, 'manifest')} aria-current={tab === 'manifest' ? 'page' : undefined}>
          App manifest
        </a>
      </nav>
    </div>
  );
}

/** Every folder of the environment, intermediate ones included, sorted as a tree. */
export function folderTree(folders: readonly Folder[]): { path: string; depth: number; folder: Folder | undefined }[] {
  const byPath = new Map(folders.map((f) => [f.path, f]));
  const all = new Set<string>(['/']);
  for (const f of folders) {
    const parts = f.path.split('/').filter((s) => s !== '');
    for (let i = 1; i <= parts.length; i++) all.add(`/${parts.slice(0, i).join('/')}`);
  }
  const segments = (p: string) => p.split('/').filter((s) => s !== '');
  return [...all]
    .sort((a, b) => {
      const x = segments(a);
      const y = segments(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const [p, q] = [x[i] as string, y[i] as string];
        if (p !== q) return p < q ? -1 : 1;
      }
      return x.length - y.length;
    })
    .map((path) => ({ path, depth: segments(path).length, folder: byPath.get(path) }));
}

export function loadFolders(project: string, env: string) {
  return api<{ folders: Folder[] }>('GET', `${envPath(project, env)}/folders`, { query: { path: '/' } });
}

/** The breadcrumb of a folder path, each part a link to its folder. */
export function PathCrumbs({ project, env, path, tab }: { project: string; env: string; path: string; tab: EnvTab }) {
  const parts = path.split('/').filter((s) => s !== '');
  return (
    <p class="path-crumbs" aria-label="Folder">
      <a href={envHref(project, env, tab, '/')}>/</a>
      {parts.map((part, i) => {
        const to = `/${parts.slice(0, i + 1).join('/')}`;
        return (
          <span key={to}>
            {i > 0 && '/'}
            {i === parts.length - 1 ? <strong>{part}</strong> : <a href={envHref(project, env, tab, to)}>{part}</a>}
          </span>
        );
      })}
    </p>
  );
}
