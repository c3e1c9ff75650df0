import { cloneElement, type ComponentChildren, type TargetedEvent, type VNode } from 'preact';
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** What a load is doing: the data once it came, or the error it met. */
export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Loads on mount and whenever `deps` change. What was loaded for other deps is never returned (a page reused for
 * another folder must not show, or act on, the last folder's rows while the new ones load); a late answer for old
 * deps is dropped. A reload keeps showing the current data until the new data comes.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ key?: string; data?: T; error?: ApiError; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let current = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => current && setState({ key, data, loading: false }),
      (error: unknown) => current && setState({ key, error: toApiError(error), loading: false }),
    );
    return () => {
      current = false;
    };
    // The caller names what the load depends on (deps); `load` itself is a new closure on every render.
  }, [key, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const fresh = state.key === key;
  return {
    data: fresh ? state.data : undefined,
    error: fresh ? state.error : undefined,
    loading: state.loading || !fresh,
    reload,
  };
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError(0, 'INTERNAL', error instanceof Error ? error.message : String(error), undefined, undefined);
}

/** Runs an action, keeping its error and whether it is under way, for forms and buttons. */
export function useAction<A extends unknown[]>(action: (...args: A) => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const run = useCallback(
    async (...args: A) => {
      setBusy(true);
      setError(undefined);
      try {
        await action(...args);
      } catch (e) {
        setError(toApiError(e));
      } finally {
        setBusy(false);
      }
    },
    [action],
  );
  return { run, busy, error, clearError: () => setError(undefined) };
}

/**
 * A dialog's form: runs `action` on submit, then shows its error (or `error`) and the Cancel and submit buttons
 * every dialog has. The submit button is off while the action runs, or while `disabled`.
 */
export function ActionForm({
  action,
  submit,
  onCancel,
  disabled = false,
  error,
  children,
}: {
  action: { run: () => Promise<void>; busy: boolean; error: ApiError | undefined };
  submit: string;
  onCancel: () => void;
  disabled?: boolean;
  error?: ApiError | undefined;
  children: ComponentChildren;
}) {
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void action.run();
      }}
    >
      {children}
      <ErrorNote error={error ?? action.error} />
      <div class="buttons">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary" disabled={action.busy || disabled}>
          {submit}
        </button>
      </div>
    </form>
  );
}

export function ErrorNote({ error }: { error: ApiError | undefined }) {
  if (error === undefined) return null;
  return (
    <p class="error" role="alert">
      <strong>{error.code}</strong> {error.message}
      {error.requestId !== undefined && <span class="muted"> (request {error.requestId})</span>}
    </p>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p class="muted" aria-busy="true">
      Loading{what === undefined ? '' : ` ${what}`}…
    </p>
  );
}

/** Shows a load's error or its loading state, else the children with the data. */
export function Show<T>({ load, children }: { load: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (load.data !== undefined) return <>{children(load.data)}</>;
  if (load.error !== undefined) return <ErrorNote error={load.error} />;
  return <Loading />;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86400],
  ['month', 30 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
];

/** A time as "3 hours ago", the exact time on hover. */
export function Time({ iso }: { iso: string | null | undefined }) {
  if (iso === null || iso === undefined) return <span class="muted">never</span>;
  const date = new Date(iso);
  const seconds = (date.getTime() - Date.now()) / 1000;
  let text = relative.format(Math.round(seconds), 'second');
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) {
      text = relative.format(Math.round(seconds / size), unit);
      break;
    }
  }
  if (Math.abs(seconds) < 30) text = 'just now';
  return (
    <time dateTime={iso} title={date.toLocaleString()}>
      {text}
    </time>
  );
}

/**
 * A modal dialog (the platform's <dialog>: focus is trapped and Escape closes it). Rendered only while open, so what
 * it shows (a value, say) leaves the page when it closes.
 */
export function Dialog({
  title,
  onClose,
  children,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      class={wide === true ? 'wide' : undefined}
      aria-label={title}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header>
        <h2>{title}</h2>
        <button type="button" class="ghost" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      {children}
    </dialog>
  );
}

/**
 * A labelled input. The hint sits outside the label (so the input's name is the label alone) and describes the
 * input through aria-describedby.
 */
export function Field({ label, hint, children }: { label: string; hint?: ComponentChildren; children: VNode }) {
  const hintId = useId();
  return (
    <div class="field">
      <label>
        <span>{label}</span>
        {hint === undefined ? children : cloneElement(children, { 'aria-describedby': hintId })}
      </label>
      {hint !== undefined && (
        <small id={hintId} class="muted">
          {hint}
        </small>
      )}
    </div>
  );
}

/** Text that was just shown once (a new client secret or token), with a copy button. */
export function ShownOnce({ label, value }: { label: string; value: string }) {
  return (
    <div class="shown-once">
      <span>{label}</span>
      <code>{value}</code>
      <CopyButton text={() => Promise.resolve(value)} />
    </div>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: () => Promise<string>; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 1500);
    return () => clearTimeout(timer);
  }, [state]);
  return (
    <button
      type="button"
      class="small"
      onClick={() => {
        text()
          .then((value) => navigator.clipboard.writeText(value))
          .then(
            () => setState('copied'),
            () => setState('failed'),
          );
      }}
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : label}
    </button>
  );
}

export function PageTitle({ children, actions }: { children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <div class="page-title">
      <h1>{children}</h1>
      {actions !== undefined && <div class="actions">{actions}</div>}
    </div>
  );
}

/** A table's header row: the column names, and an unnamed last column for row buttons when `actions`. */
export function TableHead({ columns, actions }: { columns: readonly string[]; actions?: boolean }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
        {actions === true && (
          <th scope="col">
            <span class="sr-only">Actions</span>
          </th>
        )}
      </tr>
    </thead>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A text input's value, for onInput handlers. */
export const valueOf = (e: TargetedEvent<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>) =>
  e.currentTarget.value;

/** Asks before something that cannot be undone; the action's error stays in the dialog. */
export function Confirm({
  title,
  confirm,
  onConfirm,
  onClose,
  children,
}: {
  title: string;
  confirm: 'Delete' | 'Revoke';
  onConfirm: () => Promise<void>;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const action = useAction(async () => {
    await onConfirm();
    onClose();
  });
  return (
    <Dialog title={title} onClose={onClose}>
      {children}
      <ErrorNote error={action.error} />
      <div class="buttons">
        <button type="button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" class="danger" disabled={action.busy} onClick={() => void action.run()}>
          {confirm}
        </button>
      </div>
    </Dialog>
  );
}
