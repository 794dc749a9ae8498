import { useId, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { FieldError } from './Feedback';

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-header">
      <div>
        <h1>{title}</h1>
        {description ? <p className="page-description">{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </div>
  );
}

/** Copies text to the clipboard and says so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-secondary btn-small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? 'Copied' : label}
      <span className="visually-hidden" aria-live="polite">
        {copied ? ' to the clipboard' : ''}
      </span>
    </button>
  );
}

/** A value that must not be shown: its masked hint only. */
export function Masked({ hint }: { hint?: string | null }) {
  return (
    <span className="masked" title="write-only: the value is never shown">
      {hint ?? '••••••••'}
    </span>
  );
}

interface FieldShell {
  label: string;
  error?: string | undefined;
  hint?: ReactNode;
}

/** A labelled input with its hint and its error under it. */
export function TextField({ label, error, hint, id, ...input }: FieldShell & InputHTMLAttributes<HTMLInputElement>) {
  const generated = useId();
  const inputId = id ?? generated;
  return (
    <div className="field">
      <label htmlFor={inputId}>{label}</label>
      {hint ? <p className="field-hint" id={`${inputId}-hint`}>{hint}</p> : null}
      <input id={inputId} aria-invalid={error ? true : undefined} aria-describedby={`${inputId}-error${hint ? ` ${inputId}-hint` : ''}`} {...input} />
      <FieldError id={`${inputId}-error`} message={error} />
    </div>
  );
}

export function TextAreaField({ label, error, hint, id, ...input }: FieldShell & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const generated = useId();
  const inputId = id ?? generated;
  return (
    <div className="field">
      <label htmlFor={inputId}>{label}</label>
      {hint ? <p className="field-hint" id={`${inputId}-hint`}>{hint}</p> : null}
      <textarea id={inputId} aria-invalid={error ? true : undefined} aria-describedby={`${inputId}-error${hint ? ` ${inputId}-hint` : ''}`} {...input} />
      <FieldError id={`${inputId}-error`} message={error} />
    </div>
  );
}

export function SelectField({ label, error, hint, id, children, ...input }: FieldShell & SelectHTMLAttributes<HTMLSelectElement>) {
  const generated = useId();
  const inputId = id ?? generated;
  return (
    <div className="field">
      <label htmlFor={inputId}>{label}</label>
      {hint ? <p className="field-hint" id={`${inputId}-hint`}>{hint}</p> : null}
      <select id={inputId} aria-invalid={error ? true : undefined} aria-describedby={`${inputId}-error${hint ? ` ${inputId}-hint` : ''}`} {...input}>
        {children}
      </select>
      <FieldError id={`${inputId}-error`} message={error} />
    </div>
  );
}

export function CheckboxField({ label, id, ...input }: { label: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const generated = useId();
  const inputId = id ?? generated;
  return (
    <div className="field field-checkbox">
      <input id={inputId} type="checkbox" {...input} />
      <label htmlFor={inputId}>{label}</label>
    </div>
  );
}

/** Tabs with the ARIA tabs pattern; arrow keys move between them. */
export function Tabs<T extends string>({ tabs, value, onChange, label }: { tabs: { id: T; label: string }[]; value: T; onChange: (id: T) => void; label: string }) {
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {tabs.map((tab, index) => (
        <button
          key={tab.id}
          type="button"
          role="tab"
          id={`tab-${tab.id}`}
          aria-selected={tab.id === value}
          tabIndex={tab.id === value ? 0 : -1}
          className={tab.id === value ? 'tab tab-active' : 'tab'}
          onClick={() => onChange(tab.id)}
          onKeyDown={(event) => {
            const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
            if (!step) return;
            const next = tabs[(index + step + tabs.length) % tabs.length]!;
            onChange(next.id);
            document.getElementById(`tab-${next.id}`)?.focus();
          }}
        >
          {tab.label}
        </button>
      ))}
    </div>
  );
}

/** Relative time ("3 min ago") with the exact time on hover. */
export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">—</span>;
  const date = new Date(at);
  return (
    <time dateTime={at} title={date.toLocaleString()}>
      {relative(date)}
    </time>
  );
}

export function relative(date: Date): string {
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const future = seconds < 0;
  const s = Math.abs(seconds);
  const text = s < 45 ? `${s} s` : s < 2700 ? `${Math.round(s / 60)} min` : s < 64_800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return future ? `in ${text}` : `${text} ago`;
}
