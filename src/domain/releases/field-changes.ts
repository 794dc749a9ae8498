// Field-level differences of one resource's content, as JSON Pointers. Pure and free of Node
// APIs: the dashboard bundles this same module for the diffs it computes in the browser.
import diff from 'microdiff';

export interface FieldChange {
  /** JSON Pointer (RFC 6901) of the field. */
  path: string;
  before?: unknown;
  after?: unknown;
}

function pointer(path: (string | number)[]): string {
  return path.map((part) => '/' + String(part).replaceAll('~', '~0').replaceAll('/', '~1')).join('');
}

/** Field-level differences between two versions of one resource's content. */
export function fieldChanges(before: unknown, after: unknown): FieldChange[] {
  const isObject = (v: unknown): v is Record<string, unknown> | unknown[] => typeof v === 'object' && v !== null;
  if (!isObject(before) || !isObject(after) || Array.isArray(before) !== Array.isArray(after)) {
    if (before === after) return [];
    return [{ path: '', before, after }];
  }
  return diff(before as Record<string, unknown>, after as Record<string, unknown>).map((change) => {
    const path = pointer(change.path);
    if (change.type === 'CREATE') return { path, after: change.value };
    if (change.type === 'REMOVE') return { path, before: change.oldValue };
    return { path, before: change.oldValue, after: change.value };
  });
}
