// Small pieces the resource pages share: draft badges, why an environment is not editable, and
// turning the API's field paths into JSON Pointers into the content.
import { Badge } from '../../components/Badge';
import type { Environment } from '../../api/queries';
import { chainOf } from '../../context';

export function DraftBadge({ state }: { state: 'created' | 'modified' | 'deleted' }) {
  if (state === 'created') return <Badge tone="info">new draft</Badge>;
  if (state === 'deleted') return <Badge tone="danger">deletion drafted</Badge>;
  return <Badge tone="warning">draft</Badge>;
}

/** Null when the environment holds drafts; otherwise why not, and where changes come from. */
export function editableReason(environment: Environment | undefined, environments: Environment[]): string | null {
  if (!environment || environment.editable) return null;
  const chain = chainOf(environments);
  const index = chain.findIndex((e) => e.id === environment.id);
  const previous = index > 0 ? chain[index - 1] : undefined;
  return `${environment.name} is not editable: resources change here only by promotion${previous ? ` from ${previous.name}` : ''} or rollback. Edit drafts in development or a branch.`;
}

/** `content.steps.0.template.body` (an API field path) → `/steps/0/template/body`; null for other fields. */
export function contentPointer(field: string): string | null {
  if (field !== 'content' && !field.startsWith('content.')) return null;
  return field
    .split('.')
    .slice(1)
    .map((part) => '/' + part.replaceAll('~', '~0').replaceAll('/', '~1'))
    .join('');
}

export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

/** A JSON value in a scrollable block that the keyboard can reach (to scroll it). */
export function JsonBlock({ value, className = 'cell-json' }: { value: unknown; className?: string }) {
  return (
    <pre className={className} tabIndex={0}>
      {pretty(value)}
    </pre>
  );
}

/** JSON with object keys sorted, so two equal documents compare equal whatever their key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
