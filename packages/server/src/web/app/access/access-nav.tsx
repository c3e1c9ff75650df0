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
