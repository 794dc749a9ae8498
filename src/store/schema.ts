// Table shapes as Kysely sees them. Timestamps are ISO-8601 text and flags are 0/1 integers on
// both databases, so rows read the same whichever database is behind the store.
import type { Generated } from 'kysely';

export interface WorkspaceTable {
  id: string;
  slug: string;
  name: string;
  created_at: string;
  audit_seq: number;
  audit_head: string;
  /** The key that sealed the head entry; null while the chain is empty or still unkeyed. */
  audit_key_id: string | null;
  /** The id of the workspace's latest change event (moved under the row's lock). */
  change_seq: Generated<number>;
}

export interface UserTable {
  id: string;
  email: string;
  name: string;
  created_at: string;
  password_hash: string | null;
}

export interface MemberTable {
  id: string;
  workspace_id: string;
  user_id: string;
  role: string;
  environment_roles: string;
  created_at: string;
}

export interface TokenTable {
  id: string;
  /** The user a personal token or session acts as; null for service tokens. */
  user_id: string | null;
  /** The workspace a service token belongs to; null for user tokens. */
  workspace_id: string | null;
  name: string;
  kind: string;
  role: string | null;
  environment_roles: string;
  token_hash: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface EnvironmentTable {
  id: string;
  workspace_id: string;
  slug: string;
  name: string;
  kind: string;
  position: number;
  protected: number;
  approvals_required: number;
  /** 1: a rollback of a protected environment waits for approvals like a promotion. */
  approvals_for_rollback: number;
  obfuscate_data: number;
  region: string | null;
  color: string | null;
  parent_id: string | null;
  head_release: number;
  /** Branches: the parent's release the branch forked at (the merge base). */
  fork_release: number | null;
  /** Branches: the snapshot id the next merge is three-way against; null = empty. */
  merge_base: string | null;
  /** Branches: when the TTL sweep deletes it. */
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ContentTable {
  workspace_id: string;
  hash: string;
  body: string;
  size: number;
  /** JSON array of the `vars.*` / `secrets.*` references in the document; null if not computed. */
  refs: string | null;
  /** Last time a writer stored or re-used it; the GC's grace period counts from it (0022_gc). */
  touched_at: string;
}

export interface SnapshotTable {
  workspace_id: string;
  id: string;
  resource_count: number;
  created_at: string;
  /**
   * The root of the snapshot's tree in tree_nodes. A snapshot stored before the trees (migration
   * 0021) has null until the start-up conversion reaches it, and its flat snapshot_entries rows
   * until then. A snapshot written since has its root as its id.
   */
  root: string | null;
  /** Last time a writer stored or re-used it; the GC's grace period counts from it (0022_gc). */
  touched_at: string;
}

/** One node of a snapshot tree (src/domain/releases/tree.ts), addressed by its hash. */
export interface TreeNodeTable {
  workspace_id: string;
  hash: string;
  level: number;
  /** Entries under the node. */
  count: number;
  /** encodeNode(node), or with `base` the node as a delta (tree-delta.ts). */
  body: string;
  /** The whole node the delta applies to; null when `body` is whole. */
  base: string | null;
  /** Last time a writer stored or re-used it; the GC's grace period counts from it (0022_gc). */
  touched_at: string;
}

export interface SnapshotEntryTable {
  workspace_id: string;
  snapshot_id: string;
  kind: string;
  key: string;
  hash: string;
  app: string | null;
}

export interface ReleaseTable {
  workspace_id: string;
  environment_id: string;
  number: number;
  snapshot_id: string;
  resource_count: number;
  cause: string;
  source_environment: string | null;
  source_release: number | null;
  message: string;
  author_id: string;
  author_name: string;
  created_at: string;
}

export interface DraftTable {
  workspace_id: string;
  environment_id: string;
  kind: string;
  key: string;
  hash: string | null;
  app: string | null;
  base_hash: string | null;
  updated_by: string;
  updated_at: string;
}

export interface OverrideTable {
  workspace_id: string;
  environment_id: string;
  kind: string;
  key: string;
  patch: string;
  updated_by: string;
  updated_at: string;
}

export interface ResourceStateTable {
  workspace_id: string;
  environment_id: string;
  kind: string;
  key: string;
  active: number;
  updated_by: string;
  updated_at: string;
}

export interface AuditTable {
  workspace_id: string;
  seq: number;
  id: string;
  at: string;
  actor_id: string;
  actor_kind: string;
  actor_name: string;
  action: string;
  environment: string | null;
  target: string | null;
  before_digest: string | null;
  after_digest: string | null;
  request_id: string | null;
  details: string;
  prev_hash: string;
  hash: string;
  key_id: string | null;
}

export interface AuditKeyTable {
  workspace_id: string;
  master_key_id: string;
  wrapped_key: string;
  created_at: string;
  rotated_at: string | null;
}

export interface VariableTable {
  workspace_id: string;
  name: string;
  /** JSON of the default value; null when the variable has no default. */
  value: string | null;
  description: string | null;
  updated_by: string;
  updated_at: string;
}

export interface VariableValueTable {
  workspace_id: string;
  name: string;
  environment_id: string;
  value: string;
}

export interface SettingTable {
  workspace_id: string;
  environment_id: string;
  name: string;
  value: string;
  updated_by: string;
  updated_at: string;
}

export interface RecipientPreferencesTable {
  workspace_id: string;
  environment_id: string;
  recipient: string;
  /** The preference set as JSON. */
  preferences: string;
  version: number;
  updated_at: string;
}

export interface WorkspaceKeyTable {
  workspace_id: string;
  master_key_id: string;
  wrapped_key: string;
  created_at: string;
  rotated_at: string | null;
}

export interface SecretTable {
  workspace_id: string;
  environment_id: string;
  name: string;
  version: number;
  ciphertext: string;
  hint: string;
  updated_by: string;
  updated_at: string;
}

export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  name: string;
  kind: string;
  prefix: string;
  key_hash: string;
  created_by: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface ChangeEventTable {
  workspace_id: string;
  seq: number;
  environment_id: string | null;
  type: string;
  payload: string;
  at: string;
}

export interface FreezeWindowTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  starts_at: string;
  ends_at: string;
  reason: string;
  created_by: string;
  created_at: string;
}

export interface ReviewItemTable {
  id: string;
  workspace_id: string;
  environment: string;
  kind: string;
  summary: string;
  reason: string;
  opened_by: string;
  opened_at: string;
  acknowledged_by: string | null;
  acknowledged_at: string | null;
}

export interface DataRecordTable {
  workspace_id: string;
  environment_id: string;
  collection: string;
  id: string;
  /** JSON text of the record. */
  value: string;
  /** Byte length of `value`. */
  size: number;
  created_at: string;
  updated_at: string;
}

export interface PromotionRequestTable {
  id: string;
  workspace_id: string;
  /** The target environment. */
  environment_id: string;
  /** promotion (a merge included) | rollback */
  kind: string;
  source_environment_id: string;
  source_release: number;
  /** The target's head release the plan was made against; the request is stale once it moves. */
  target_release: number;
  /** JSON of what was asked (resources, message, resolutions). */
  input: string;
  /** JSON of the plan shown to approvers. */
  plan: string;
  plan_hash: string;
  /** pending | applied | rejected | stale | cancelled */
  status: string;
  approvals_required: number;
  requested_by: string;
  requested_by_name: string;
  created_at: string;
  decided_at: string | null;
  reason: string | null;
  /** The target release the approved request made. */
  release: number | null;
}

export interface PromotionApprovalTable {
  request_id: string;
  actor_id: string;
  actor_name: string;
  decision: string;
  comment: string | null;
  at: string;
}

export interface FeedMessageTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  recipient: string;
  run_id: string | null;
  workflow: string | null;
  /** JSON of the rendered message. */
  content: string;
  created_at: string;
  read_at: string | null;
}

export interface WorkflowRunTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  /** The workflow's key. */
  workflow: string;
  /** The environment's release the run read (its head when the run was made). */
  release: number;
  /** That release's snapshot: layouts and tools are read from it. Null for a draft test run. */
  snapshot_id: string | null;
  /** Hash of the workflow content run (committed or draft), before the override. */
  content_hash: string;
  /** JSON of the workflow as run: content with the override merged. */
  definition: string;
  /** api | test */
  source: string;
  idempotency_key: string | null;
  /** Digest of what was asked (workflow, recipients, data): a reused key must ask the same. */
  request_hash: string;
  /** queued | running | completed | failed */
  status: string;
  /** JSON array of the recipients as resolved at trigger time. */
  recipients: string;
  /** JSON of the trigger's data. */
  data: string;
  error: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface WorkflowStepTable {
  run_id: string;
  step: number;
  /** Position of the recipient in the run's recipients. */
  recipient_index: number;
  /** The recipient's id. */
  recipient: string;
  /** channel:email | channel:webhook | channel:in_app | tool | delay */
  type: string;
  /** completed | failed | retrying | waiting | skipped */
  status: string;
  attempts: number;
  /** JSON array of the message ids the step delivered. */
  message_ids: string;
  /** What the far side answered (e.g. `HTTP 201`), never a value. */
  detail: string | null;
  error: string | null;
  /** When a retrying or waiting step is due. */
  wake_at: string | null;
  started_at: string;
  finished_at: string | null;
}

export interface WorkflowJobTable {
  id: string;
  run_id: string;
  /** When the job is due. */
  run_at: string;
  /** Times a worker claimed it. */
  attempts: number;
  /** Consecutive executions that ended in an internal error (not a delivery's own failure). */
  failures: number;
  /** queued | running */
  status: string;
  lease_owner: string | null;
  lease_expires_at: string | null;
  last_error: string | null;
  created_at: string;
}

export interface Database {
  workspaces: WorkspaceTable;
  users: UserTable;
  members: MemberTable;
  tokens: TokenTable;
  environments: EnvironmentTable;
  contents: ContentTable;
  snapshots: SnapshotTable;
  snapshot_entries: SnapshotEntryTable;
  tree_nodes: TreeNodeTable;
  releases: ReleaseTable;
  drafts: DraftTable;
  overrides: OverrideTable;
  resource_states: ResourceStateTable;
  audit_log: AuditTable;
  variables: VariableTable;
  variable_values: VariableValueTable;
  settings: SettingTable;
  recipient_preferences: RecipientPreferencesTable;
  workspace_keys: WorkspaceKeyTable;
  secrets: SecretTable;
  api_keys: ApiKeyTable;
  change_events: ChangeEventTable;
  freeze_windows: FreezeWindowTable;
  review_items: ReviewItemTable;
  data_records: DataRecordTable;
  promotion_requests: PromotionRequestTable;
  promotion_approvals: PromotionApprovalTable;
  feed_messages: FeedMessageTable;
  workflow_runs: WorkflowRunTable;
  workflow_steps: WorkflowStepTable;
  workflow_jobs: WorkflowJobTable;
  audit_keys: AuditKeyTable;
  activity_log: ActivityTable;
  leases: LeaseTable;
  watches: WatchTable;
  environment_holds: EnvironmentHoldTable;
  alert_rules: AlertRuleTable;
  alert_silences: AlertSilenceTable;
  alert_events: AlertEventTable;
  alert_notifications: AlertNotificationTable;
  event_subscriptions: EventSubscriptionTable;
  events: EventTable;
  event_deliveries: EventDeliveryTable;
  environment_gates: EnvironmentGateTable;
  release_checks: ReleaseCheckTable;
  checklist_ticks: ChecklistTickTable;
  metric_rollups: MetricRollupTable;
}

export interface ActivityTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  /** The environment's slug when the entry was written (entries outlive deleted branches). */
  environment: string;
  at: string;
  actor_kind: string;
  actor_id: string;
  actor_name: string | null;
  action: string;
  target: string;
  request_id: string | null;
  details: string;
}

export interface LeaseTable {
  name: string;
  /** The node (process) holding the lease. */
  holder: string;
  expires_at: string;
}

export interface WatchTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  release: number;
  previous_release: number;
  /** JSON: {maxErrorRate, maxP95Ms, maxRegression} (null where not set). */
  thresholds: string;
  /** Start of the previous release's last hour before the promotion; null without a previous release. */
  baseline_from: string | null;
  started_at: string;
  ends_at: string;
  /** running | passed | breached | superseded */
  status: string;
  ended_at: string | null;
  /** JSON: the figures, baseline and breach (if any) the watch ended on. */
  outcome: string | null;
}

export interface EnvironmentHoldTable {
  environment_id: string;
  workspace_id: string;
  since: string;
  reason: string;
  /** The release the breach rolled back from. */
  release: number | null;
  watch_id: string | null;
}

export interface AlertRuleTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  name: string;
  metric: string;
  comparison: string;
  threshold: number;
  window_minutes: number;
  min_requests: number;
  /** JSON: the channels without their secrets (type, email `to`, hints). */
  channels: string;
  /** The channels in full (urls, routing keys, webhook secrets), sealed with the workspace data key. */
  channels_sealed: string;
  state: string;
  state_since: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface AlertSilenceTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  /** null: every rule of the environment. */
  rule_id: string | null;
  starts_at: string;
  ends_at: string;
  reason: string;
  created_by: string;
  created_at: string;
}

export interface AlertEventTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  environment: string;
  rule_id: string;
  rule: string;
  /** firing | resolved */
  state: string;
  value: number | null;
  silenced: number;
  at: string;
}

export interface AlertNotificationTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  event_id: string;
  rule_id: string;
  channel_index: number;
  channel_type: string;
  /** The rule's sealed channels as they were at the transition. */
  channels_sealed: string;
  /** JSON: what the notification says (names and numbers only). */
  payload: string;
  /** pending | delivered | failed | suppressed */
  status: string;
  attempts: number;
  next_attempt_at: string;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

export interface EventSubscriptionTable {
  id: string;
  workspace_id: string;
  /** The receiver URL, sealed with the workspace data key (it may carry a token). */
  url_sealed: string;
  /** Its origin, for reading: `https://hooks.example.com/…`. */
  url_hint: string;
  /** `whsec_…`, sealed with the workspace data key. */
  secret_sealed: string;
  /** JSON array of event types, or `["*"]`. */
  types: string;
  /** JSON array of environment slugs; null: every environment and workspace events. */
  environments: string | null;
  description: string | null;
  created_by: string;
  created_at: string;
}

export interface EventTable {
  id: string;
  workspace_id: string;
  type: string;
  environment_id: string | null;
  /** The environment's slug when the event was made. */
  environment: string | null;
  /** JSON object. */
  data: string;
  at: string;
}

export interface EventDeliveryTable {
  id: string;
  workspace_id: string;
  subscription_id: string;
  event_id: string;
  /** pending | delivered | failed */
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  last_response: string | null;
  delivered_at: string | null;
  created_at: string;
}

export interface EnvironmentGateTable {
  workspace_id: string;
  environment_id: string;
  /** JSON array of required check names. */
  checks: string;
  /** JSON array of checklist items. */
  checklist: string;
  soak_minutes: number;
  auto_apply: number;
  /** JSON of the default watch, or null. */
  watch: string | null;
  updated_at: string;
}

export interface ReleaseCheckTable {
  id: string;
  workspace_id: string;
  environment_id: string;
  release: number;
  /** Order of reports on one release: the highest per name is the check's state. */
  seq: number;
  name: string;
  /** pending | success | failure */
  status: string;
  url: string | null;
  summary: string | null;
  reported_by: string;
  reported_by_name: string;
  at: string;
}

export interface ChecklistTickTable {
  workspace_id: string;
  /** The request's target environment. */
  environment_id: string;
  request_id: string;
  item: string;
  done: number;
  actor_id: string;
  actor_name: string;
  at: string;
}

export interface MetricRollupTable {
  /** The node (process start) that counted the row: each node writes only its own rows. */
  node_id: string;
  resolution: 'minute' | 'hour';
  bucket_start: string;
  workspace_id: string;
  environment_id: string;
  family: string;
  /** Route key, resource `kind/key`, workflow key, channel or tool key; '' the environment's total. */
  subject: string;
  requests: number;
  s2xx: number;
  s3xx: number;
  s4xx: number;
  s5xx: number;
  errors: number;
  upstream_errors: number;
  duration_count: number;
  duration_sum_ms: number;
  /** Sparse latency histogram `{index: count}` (src/metrics/histogram.ts). */
  buckets: string;
}
