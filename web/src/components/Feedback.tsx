// How the dashboard says things: errors next to what caused them, empty states that say what
// to do next, loading placeholders that keep their space.
import type { ReactNode } from 'react';
import { ApiError } from '../api/client';

/** An API (or other) error as a notice; field details listed when the form shows no field errors itself. */
export function ErrorNotice({ error, title, showDetails = true }: { error: unknown; title?: string; showDetails?: boolean }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="notice notice-error" role="alert">
      <strong>{title ?? (api ? humanCode(api.code) : 'Something went wrong')}</strong>
      <span className="notice-message">{message}</span>
      {showDetails && api && api.details.length > 0 ? (
        <ul className="notice-details">
          {api.details.map((d, i) => (
            <li key={i}>
              {d.field ? <code>{d.field}</code> : null} {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function humanCode(code: string): string {
  const text = code.replaceAll('_', ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The message of one field, under its input (`id` goes on the input's aria-describedby). */
export function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return (
    <p id={id} className="field-error" role={message ? 'alert' : undefined}>
      {message ?? ''}
    </p>
  );
}

export function Notice({ kind = 'info', children }: { kind?: 'info' | 'success' | 'warning'; children: ReactNode }) {
  return (
    <div className={`notice notice-${kind}`} role={kind === 'success' ? 'status' : undefined}>
      {children}
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty-state">
      <h3>{title}</h3>
      {children ? <div className="empty-body">{children}</div> : null}
      {action ? <div className="empty-action">{action}</div> : null}
    </div>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <div className="loading" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

/** A query's loading and error states around its content; the content renders once data is there. */
export function Loaded<T>({ query, children, label }: { query: { data: T | undefined; error: unknown; isPending: boolean }; children: (data: T) => ReactNode; label?: string }) {
  if (query.error) return <ErrorNotice error={query.error} />;
  if (query.isPending || query.data === undefined) return <Spinner {...(label ? { label } : {})} />;
  return <>{children(query.data)}</>;
}
