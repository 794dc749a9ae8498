// Local files against an environment: which resources a push adds, changes or deletes, which of
// them the server changed since the pull (the lock says what it was), and field-level changes in
// the server's diff shape (JSON Pointer paths) so local and server diffs print the same way.
import type { Output } from '../output.js';
import { canonicalJson, escapePointer, type Json } from './format.js';

export interface FieldChange {
  path: string;
  before?: Json;
  after?: Json;
}

export type ChangeStatus = 'added' | 'changed' | 'removed';

export interface ResourceChange {
  kind: string;
  key: string;
  status: ChangeStatus;
  fromHash: string | null;
  toHash: string | null;
  app?: { before: string | null; after: string | null };
  fields: FieldChange[];
  /** The file (local diffs and pushes). */
  path?: string;
}

/** Per-field changes from `before` to `after` ("" is the whole document when one side is absent). */
export function fieldChanges(before: Json | undefined, after: Json | undefined, path = ''): FieldChange[] {
  if (before === undefined && after === undefined) return [];
  if (before === undefined) return [{ path, after: after! }];
  if (after === undefined) return [{ path, before }];
  if (isObject(before) && isObject(after)) {
    const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return names.flatMap((name) =>
      fieldChanges(Object.hasOwn(before, name) ? before[name] : undefined, Object.hasOwn(after, name) ? after[name] : undefined, `${path}/${escapePointer(name)}`),
    );
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((item, i) => fieldChanges(item, after[i], `${path}/${i}`));
  }
  return canonicalJson(before) === canonicalJson(after) ? [] : [{ path, before, after }];
}

function isObject(value: Json): value is { [key: string]: Json } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** "2 added, 1 changed, 3 removed" (or "no changes"). */
export function summarise(changes: readonly { status: ChangeStatus }[], words: Record<ChangeStatus, string> = { added: 'added', changed: 'changed', removed: 'removed' }): string {
  const counts = { added: 0, changed: 0, removed: 0 };
  for (const change of changes) counts[change.status]++;
  const parts = (['added', 'changed', 'removed'] as const).filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${words[s]}`);
  return parts.length > 0 ? parts.join(', ') : 'no changes';
}

const MARK: Record<ChangeStatus, ['green' | 'yellow' | 'red', string]> = { added: ['green', '+'], changed: ['yellow', '~'], removed: ['red', '-'] };

/** A readable per-resource diff: a line per resource, an indented line per field (at most `maxFields`). */
export function renderChanges(out: Output, changes: readonly ResourceChange[], options: { maxFields?: number; fields?: boolean } = {}): string[] {
  const lines: string[] = [];
  const maxFields = options.maxFields ?? 20;
  for (const change of changes) {
    const [colour, mark] = MARK[change.status];
    const where = change.path ? out.style('dim', `  ${change.path}`) : '';
    lines.push(`${out.style(colour, `${mark} ${change.kind}/${change.key}`)}${where}`);
    if (options.fields === false) continue;
    if (change.app) lines.push(`    ${out.style('dim', 'app')}: ${show(change.app.before)} → ${show(change.app.after)}`);
    if (change.status !== 'changed') continue;
    for (const field of change.fields.slice(0, maxFields)) {
      const name = out.style('dim', field.path || '(document)');
      if (field.before === undefined) lines.push(`    ${out.style('green', '+')} ${name}: ${show(field.after)}`);
      else if (field.after === undefined) lines.push(`    ${out.style('red', '-')} ${name}: ${show(field.before)}`);
      else lines.push(`    ${out.style('yellow', '~')} ${name}: ${out.style('red', show(field.before))} → ${out.style('green', show(field.after))}`);
    }
    if (change.fields.length > maxFields) lines.push(`    ${out.style('dim', `… ${change.fields.length - maxFields} more fields`)}`);
  }
  return lines;
}

function show(value: Json | undefined): string {
  if (value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
