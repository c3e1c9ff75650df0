import { durationSeconds } from '@keybox/sdk/durations';
import { Fragment } from 'preact';

export { formatDuration } from '@keybox/sdk/durations';
import { api, ApiError } from '../api.js';
import { useLoad } from '../ui.js';

/** A policy as `GET /policies` answers it, and one of its rules. */
import type { PolicyInfo as Policy } from '../../../core/policy/policy-service.js';
export type { PolicyRule } from '../../../core/policy/policy-rules.js';
export type { Policy };

/** A path segment for the API: names are validated by the server, but must not be able to change the route. */
export const seg = (name: string) => encodeURIComponent(name);

/** A form mistake caught before asking the server, shown like the server's own INVALID_INPUT. */
export function invalid(message: string): ApiError {
  return new ApiError(400, 'INVALID_INPUT', message, undefined, undefined);
}

/** Names typed as "a, b c": split on commas and spaces, empties and repeats dropped. */
export function parseList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((s) => s !== ''))];
}

/**
 * A duration in the CLI's syntax (`@keybox/sdk/durations`); empty is undefined, for the server's default. Zero is
 * refused: a TTL of nothing.
 */
export function parseDuration(text: string, what: string): number | undefined {
  if (text.trim() === '') return undefined;
  const seconds = durationSeconds(text);
  if (seconds === undefined || seconds === 0) {
    throw invalid(`${what}: a duration such as 90s, 15m, 1h, 7d or 2w, or a number of seconds`);
  }
  return seconds;
}

export function PolicyPills({ names }: { names: readonly string[] }) {
  if (names.length === 0) return <span class="muted">none</span>;
  return (
    <>
      {names.map((n, i) => (
        <Fragment key={n}>
          {i > 0 && ' '}
          <span class="pill">{n}</span>
        </Fragment>
      ))}
    </>
  );
}

export function StateBadge({ disabled }: { disabled: boolean }) {
  return disabled ? <span class="badge bad">disabled</span> : <span class="badge ok">active</span>;
}

/**
 * The policies that exist, under a policies field. Kept outside the field's label on purpose: the label's text is
 * the input's name, and a policy called "admin" there would make it answer to "Admin" too.
 */
export function ExistingPolicies() {
  const load = useLoad(() => api<{ policies: Policy[] }>('GET', '/policies'), []);
  const names = load.data?.policies.map((p) => p.name) ?? [];
  if (names.length === 0) return null;
  return (
    <p class="muted small">
      Existing:{' '}
      {names.map((n, i) => (
        <span key={n}>
          {i > 0 && ', '}
          <code>{n}</code>
        </span>
      ))}
    </p>
  );
}
