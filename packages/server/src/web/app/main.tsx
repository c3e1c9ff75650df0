import { render } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { api, ApiError, SIGNED_OUT_EVENT, sessionKey, type TokenLookup } from './api.js';
import { AuditPage } from './audit-page.js';
import { FolderHistoryPage } from './folder-history-page.js';
import { IdentitiesPage } from './access/identities-page.js';
import { ManifestPage } from './manifest-page.js';
import { PoliciesPage } from './access/policies-page.js';
import { ProjectsPage } from './projects-page.js';
import { SecretsPage } from './secrets-page.js';
import { currentSession, SessionContext, SignIn, type Session } from './session.js';
import { StatusPage } from './status-page.js';
import { TokensPage } from './access/tokens-page.js';
import { UsersPage } from './access/users-page.js';
import { ErrorNote, Loading, toApiError, useAction } from './ui.js';

function NavLink({ href, children, match }: { href: string; children: string; match?: string }) {
  const { path } = useLocation();
  // The projects page is also what / and /ui show.
  const here = path === '/' || path === '/ui' ? '/ui/projects' : path;
  const active = here === href || here.startsWith(`${match ?? href}/`);
  return (
    <a href={href} aria-current={active ? 'page' : undefined}>
      {children}
    </a>
  );
}

function Layout({ session }: { session: Session }) {
  return (
    <>
      <header class="top">
        <a href="/ui/projects" class="brand">
          <span class="logo" aria-hidden="true" />
          Keybox
        </a>
        <nav aria-label="Main">
          <NavLink href="/ui/projects">Projects</NavLink>
          {session.admin && (
            <NavLink href="/ui/access/identities" match="/ui/access">
              Access
            </NavLink>
          )}
          {session.admin && <NavLink href="/ui/audit">Audit log</NavLink>}
          <NavLink href="/ui/status">Status</NavLink>
        </nav>
        <div class="who">
          <span title={`signed in as ${session.principal.actor}`}>{session.principal.actor}</span>
          <SignOut session={session} />
        </div>
      </header>
      <main class="content">
        <Router>
          <Route path="/" component={ProjectsPage} />
          <Route path="/ui" component={ProjectsPage} />
          <Route path="/ui/projects" component={ProjectsPage} />
          <Route path="/ui/projects/:project/:env" component={SecretsPage} />
          <Route path="/ui/projects/:project/:env/history" component={FolderHistoryPage} />
          <Route path="/ui/projects/:project/:env/manifest" component={ManifestPage} />
          <Route path="/ui/access/identities" component={IdentitiesPage} />
          <Route path="/ui/access/users" component={UsersPage} />
          <Route path="/ui/access/tokens" component={TokensPage} />
          <Route path="/ui/access/policies" component={PoliciesPage} />
          <Route path="/ui/audit" component={AuditPage} />
          <Route path="/ui/status" component={StatusPage} />
          <Route default component={NotFound} />
        </Router>
      </main>
    </>
  );
}

function SignOut({ session }: { session: Session }) {
  const action = useAction(session.signOut);
  return (
    <>
      <button type="button" class="small" disabled={action.busy} onClick={() => void action.run()}>
        Sign out
      </button>
      {action.error !== undefined && (
        <span class="error" role="alert">
          not signed out: {action.error.message}
        </span>
      )}
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href="/ui/projects">Go to the projects.</a>
      </p>
    </section>
  );
}

function App() {
  const [lookup, setLookup] = useState<TokenLookup | undefined | null>(null);
  const [unreachable, setUnreachable] = useState<ApiError | undefined>();
  const [ended, setEnded] = useState(false);
  const refresh = useCallback(() => {
    setUnreachable(undefined);
    currentSession().then(setLookup, (error: unknown) => setUnreachable(toApiError(error)));
  }, []);
  useEffect(refresh, [refresh]);
  useEffect(() => {
    const onSignedOut = () => {
      setEnded(true);
      setLookup(undefined);
    };
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, []);
  const session = useMemo<Session | undefined>(() => {
    if (lookup === null || lookup === undefined) return undefined;
    return {
      principal: lookup.principal,
      expiresAt: lookup.token.expiresAt,
      admin: lookup.principal.policies.includes('admin'),
      // Only a sign-out the server confirmed (or a session it no longer knows) leaves the page: otherwise the cookie
      // and its token would still work for whoever uses this browser next.
      signOut: async () => {
        try {
          await api('DELETE', '/auth/session', { quiet: true });
        } catch (error) {
          if (!(error instanceof ApiError && error.status === 401)) throw error;
        }
        sessionKey.clear();
        setEnded(false);
        setLookup(undefined);
      },
    };
  }, [lookup]);
  if (unreachable !== undefined) {
    return (
      <main class="sign-in">
        <div>
          <ErrorNote error={unreachable} />
          <button type="button" onClick={refresh}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (lookup === null) return <Loading what="Keybox" />;
  if (session === undefined) {
    return (
      <SignIn
        ended={ended}
        onSignedIn={() => {
          setEnded(false);
          refresh();
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <LocationProvider scope="/ui">
        <Layout session={session} />
      </LocationProvider>
    </SessionContext.Provider>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
