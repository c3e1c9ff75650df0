import { createContext } from 'preact';
import { useContext, useState } from 'preact/hooks';
import { api, ApiError, sessionKey, type Principal, type TokenLookup } from './api.js';
import { ErrorNote, Field, useAction, valueOf } from './ui.js';

export interface Session {
  principal: Principal;
  expiresAt: string | null;
  /** Whether the built-in admin policy applies (what the access and audit pages need). */
  admin: boolean;
  signOut: () => Promise<void>;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === undefined) throw new Error('useSession outside a signed-in page');
  return session;
}

/**
 * Who the session belongs to; undefined when there is none (no key kept, or the server says 401). Any other failure
 * (the server unreachable or restarting) is thrown: it says nothing about the session.
 */
export async function currentSession(): Promise<TokenLookup | undefined> {
  if (sessionKey.get() === null) return undefined;
  try {
    return await api<TokenLookup>('GET', '/auth/token', { quiet: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionKey.clear();
      return undefined;
    }
    throw error;
  }
}

/**
 * Sign in with a user's name and password (a 12-hour session, ended by signing out) or with a token (the first
 * admin token, a CLI session: kept by the server, only forgotten by the browser on sign-out).
 */
export function SignIn({ onSignedIn, ended }: { onSignedIn: () => void; ended: boolean }) {
  const [method, setMethod] = useState<'password' | 'token'>('password');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const action = useAction(async () => {
    const body = method === 'password' ? { name, password } : { token: token.trim() };
    const started = await api<{ sessionKey: string }>('POST', '/auth/session', { body, quiet: true });
    sessionKey.set(started.sessionKey);
    // Nothing typed here stays in the page once it has been used.
    setPassword('');
    setToken('');
    onSignedIn();
  });
  return (
    <main class="sign-in">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void action.run();
        }}
      >
        <h1>
          <span class="logo" aria-hidden="true" />
          Keybox
        </h1>
        {ended && <p class="notice">Your session has ended. Sign in again.</p>}
        <div class="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={method === 'password'} onClick={() => setMethod('password')}>
            User
          </button>
          <button type="button" role="tab" aria-selected={method === 'token'} onClick={() => setMethod('token')}>
            Token
          </button>
        </div>
        {method === 'password' ? (
          <>
            <Field label="User name">
              <input
                name="username"
                autocomplete="username"
                required
                value={name}
                onInput={(e) => setName(valueOf(e))}
              />
            </Field>
            <Field label="Password">
              <input
                name="password"
                type="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(valueOf(e))}
              />
            </Field>
          </>
        ) : (
          <Field
            label="Token"
            hint="The admin token keybox server printed on its first start, or any token (keybox tokens create)."
          >
            <input
              name="token"
              type="password"
              autocomplete="off"
              spellcheck={false}
              required
              value={token}
              onInput={(e) => setToken(valueOf(e))}
            />
          </Field>
        )}
        <ErrorNote error={action.error} />
        <button type="submit" class="primary" disabled={action.busy}>
          {action.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
