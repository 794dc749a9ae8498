// Workflow runs as plain values, and the rules a trigger's recipients must meet: ids of `users`
// records of the environment or inline objects with an id, each once, at most MAX_RECIPIENTS.
import type { FieldIssue } from '../errors.js';
import type { WorkflowContent } from '../resources/kinds.js';

export const MAX_RECIPIENTS = 1000;
export const MAX_DATA_BYTES = 256 * 1024;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** The data collection whose records recipients given as ids are. */
export const RECIPIENT_COLLECTION = 'users';

/** A recipient id: 1-256 characters without control characters (runs, feeds and channels alike). */
export const RECIPIENT_ID_PATTERN = /^[^\u0000-\u001f\u007f]{1,256}$/;
export const RECIPIENT_ID_RULE = '1-256 characters without control characters';

export function isRecipientId(value: unknown): value is string {
  return typeof value === 'string' && RECIPIENT_ID_PATTERN.test(value);
}

/** An idempotency key, when one is given: 1-255 printable ASCII characters without spaces. */
export function idempotencyKeyIssue(key: string | undefined): FieldIssue | null {
  if (key === undefined || IDEMPOTENCY_KEY_PATTERN.test(key)) return null;
  return { field: 'idempotencyKey', message: 'must be 1-255 printable ASCII characters without spaces', in: 'body' };
}

/** A trigger's `data` as stored (compact JSON, UTF-8) is at most MAX_DATA_BYTES. */
export function dataSizeIssue(data: Record<string, unknown>): FieldIssue | null {
  const size = Buffer.byteLength(JSON.stringify(data));
  if (size <= MAX_DATA_BYTES) return null;
  return { field: 'data', message: `must be at most ${MAX_DATA_BYTES} bytes of JSON; this is ${size} bytes`, in: 'body' };
}

export type RunSource = 'api' | 'test';
export type RunStatus = 'queued' | 'running' | 'completed' | 'failed';

/** A recipient as a run sees it: the record's (or inline object's) fields, and its id. */
export interface Recipient {
  id: string;
  [field: string]: unknown;
}

export type RecipientInput = string | { id: string; [field: string]: unknown };

export interface WorkflowRun {
  id: string;
  workspaceId: string;
  environmentId: string;
  /** The workflow's key. */
  workflow: string;
  release: number;
  /** The release's snapshot that layouts and tools are read from; null for a draft test run. */
  snapshotId: string | null;
  contentHash: string;
  /** The workflow as it runs: its content with the environment's override merged. */
  definition: WorkflowContent;
  source: RunSource;
  idempotencyKey: string | null;
  requestHash: string;
  status: RunStatus;
  recipients: Recipient[];
  data: Record<string, unknown>;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** One attempt of a step for a recipient, as a test run reports it. */
export interface StepReport {
  step: number;
  recipient: string;
  type: string;
  status: string;
  /** The rendered message (secrets shown as `[secret NAME]`), or a tool call's input. */
  message: unknown;
  messageIds: string[];
  detail: string | null;
  error: string | null;
}

/** Problems of the recipients' shapes: an id that is not a recipient id, the same id twice. */
export function recipientIssues(recipients: RecipientInput[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (recipients.length === 0) issues.push({ field: 'recipients', message: 'must name at least one recipient', in: 'body' });
  if (recipients.length > MAX_RECIPIENTS) issues.push({ field: 'recipients', message: `must name at most ${MAX_RECIPIENTS} recipients`, in: 'body' });
  const seen = new Map<string, number>();
  recipients.forEach((recipient, i) => {
    const id = typeof recipient === 'string' ? recipient : recipient.id;
    const field = typeof recipient === 'string' ? `recipients.${i}` : `recipients.${i}.id`;
    if (!isRecipientId(id)) {
      issues.push({ field, message: `must be a recipient id: ${RECIPIENT_ID_RULE}`, in: 'body' });
      return;
    }
    const first = seen.get(id);
    if (first !== undefined) issues.push({ field, message: `names the same recipient as recipients.${first}`, in: 'body' });
    else seen.set(id, i);
  });
  return issues;
}

/** The ids that must be looked up as `users` records. */
export function recipientIdsToLoad(recipients: RecipientInput[]): string[] {
  return recipients.filter((r): r is string => typeof r === 'string');
}

/**
 * Recipients as the run keeps them: an id becomes its `users` record's fields with the id; an
 * inline object is taken as given. An id without a record is an issue naming its position.
 */
export function resolveRecipients(
  recipients: RecipientInput[],
  records: ReadonlyMap<string, Record<string, unknown>>,
  environment: string,
): { recipients: Recipient[]; issues: FieldIssue[] } {
  const resolved: Recipient[] = [];
  const issues: FieldIssue[] = [];
  recipients.forEach((recipient, i) => {
    if (typeof recipient !== 'string') {
      resolved.push({ ...recipient });
      return;
    }
    const record = records.get(recipient);
    if (!record) {
      issues.push({ field: `recipients.${i}`, message: `there is no ${RECIPIENT_COLLECTION} record ${JSON.stringify(recipient)} in ${environment}`, in: 'body' });
      return;
    }
    resolved.push({ ...record, id: recipient });
  });
  return { recipients: resolved, issues };
}

/** The `to` of an email to a recipient: `Name <address>` when it has a plain name, else the address. */
export function emailAddressOf(recipient: Recipient): string | null {
  const email = recipient.email;
  if (typeof email !== 'string' || !/^[^\s@<>]+@[^\s@<>]+$/.test(email)) return null;
  const name = recipient.name;
  return typeof name === 'string' && name.trim() !== '' && !/[<>"\r\n\\]/.test(name) ? `${name.trim()} <${email}>` : email;
}
