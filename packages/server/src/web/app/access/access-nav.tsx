import type { ComponentChildren } from 'preact';
import { PageTitle } from '../ui.js';

export type AccessTab = 'identities' | 'users' | 'tokens' | 'policies';

const TABS: { tab: AccessTab; label: string }[] = [
  { tab: 'identities', label: 'Identities' },
  { tab: 'users', label: 'Users' },
  { tab: 'tokens', label: 'Tokens' },
  { tab: 'policies', label: 'Policies' },
];

/** The access pages' own tabs, under the main navigation's "Access". */
export function AccessNav({ current }: { current: AccessTab }) {
  return (
    <nav class="subtabs" aria-label="Access">
      {TABS.map(({ tab, label }) => (
        <a key={tab} href={`/ui/access/${tab}`} aria-current={tab === current ? 'page' : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

/** The top of an access page: the tabs, its title with its "New …" button, and what the page is for. */
export function AccessHeader(props: {
  current: AccessTab;
  newLabel: string;
  onNew: () => void;
  children: ComponentChildren;
}) {
  const label = TABS.find((t) => t.tab === props.current)?.label ?? '';
  return (
    <>
      <AccessNav current={props.current} />
      <PageTitle
        actions={
          <button type="button" class="primary" onClick={props.onNew}>
            {props.newLabel}
          </button>
        }
      >
        {label}
      </PageTitle>
      <p class="muted">{props.children}</p>
    </>
  );
}
