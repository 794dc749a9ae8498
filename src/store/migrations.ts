// Forward-only schema migrations, applied at start. Kysely's migrator records what ran and
// takes a lock, so concurrent nodes starting on one PostgreSQL apply each migration once.
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './database.js';

/**
 * Resource kinds and keys are paged in byte order in both databases and in JS; PostgreSQL's
 * default collation may follow a locale, so their columns use the "C" collation there.
 */
const byteOrderedText = (dialect: Dialect) => (dialect === 'postgres' ? sql`text collate "C"` : sql`text`);

const migrations = (dialect: Dialect): Record<string, Migration> => ({
  '0001_core': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('workspaces')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('slug', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('audit_seq', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('audit_head', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('members')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('environment_roles', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('members_workspace_user', ['workspace_id', 'user_id'])
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
        .addColumn('workspace_id', 'text', (c) => c.references('workspaces.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('role', 'text')
        .addColumn('environment_roles', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();

      await db.schema
        .createTable('environments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
        .addColumn('slug', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('approvals_required', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('obfuscate_data', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('region', 'text')
        .addColumn('color', 'text')
        .addColumn('parent_id', 'text')
        .addColumn('head_release', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('environments_workspace_slug', ['workspace_id', 'slug'])
        .execute();

      await db.schema
        .createTable('contents')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('contents_pk', ['workspace_id', 'hash'])
        .execute();

      await db.schema
        .createTable('snapshots')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('resource_count', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('snapshots_pk', ['workspace_id', 'id'])
        .execute();

      await db.schema
        .createTable('snapshot_entries')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('snapshot_id', 'text', (c) => c.notNull())
        .addColumn('kind', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('key', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('app', 'text')
        .addPrimaryKeyConstraint('snapshot_entries_pk', ['workspace_id', 'snapshot_id', 'kind', 'key'])
        .execute();

      await db.schema
        .createTable('releases')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('number', 'integer', (c) => c.notNull())
        .addColumn('snapshot_id', 'text', (c) => c.notNull())
        .addColumn('resource_count', 'integer', (c) => c.notNull())
        .addColumn('cause', 'text', (c) => c.notNull())
        .addColumn('source_environment', 'text')
        .addColumn('source_release', 'integer')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('author_id', 'text', (c) => c.notNull())
        .addColumn('author_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('releases_pk', ['environment_id', 'number'])
        .execute();

      for (const table of ['drafts', 'overrides', 'resource_states'] as const) {
        let builder = db.schema
          .createTable(table)
          .addColumn('workspace_id', 'text', (c) => c.notNull())
          .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
          .addColumn('kind', byteOrderedText(dialect), (c) => c.notNull())
          .addColumn('key', byteOrderedText(dialect), (c) => c.notNull());
        if (table === 'drafts') {
          builder = builder
            .addColumn('hash', 'text')
            .addColumn('app', 'text')
            .addColumn('base_hash', 'text');
        } else if (table === 'overrides') {
          builder = builder.addColumn('patch', 'text', (c) => c.notNull());
        } else {
          builder = builder.addColumn('active', 'integer', (c) => c.notNull());
        }
        await builder
          .addColumn('updated_by', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint(`${table}_pk`, ['environment_id', 'kind', 'key'])
          .execute();
      }

      await db.schema
        .createTable('audit_log')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_kind', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('environment', 'text')
        .addColumn('target', 'text')
        .addColumn('before_digest', 'text')
        .addColumn('after_digest', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('audit_log_pk', ['workspace_id', 'seq'])
        .execute();

      await db.schema.createIndex('audit_log_action').on('audit_log').columns(['workspace_id', 'action', 'seq']).execute();
      await db.schema.createIndex('audit_log_env').on('audit_log').columns(['workspace_id', 'environment', 'seq']).execute();
      await db.schema.createIndex('audit_log_actor').on('audit_log').columns(['workspace_id', 'actor_id', 'seq']).execute();
      await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();
      await db.schema.createIndex('members_user').on('members').column('user_id').execute();
    },
  },
  '0002_runtime': {
    async up(db: Kysely<any>) {
      // The vars.* and secrets.* a document references, computed once per content hash.
      await db.schema.alterTable('contents').addColumn('refs', 'text').execute();

      await db.schema
        .createTable('variables')
        .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'text')
        .addColumn('description', 'text')
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('variables_pk', ['workspace_id', 'name'])
        .execute();

      await db.schema
        .createTable('variable_values')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('variable_values_pk', ['workspace_id', 'name', 'environment_id'])
        .execute();

      await db.schema
        .createTable('settings')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('settings_pk', ['environment_id', 'name'])
        .execute();

      await db.schema
        .createTable('workspace_keys')
        .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id').onDelete('cascade'))
        .addColumn('master_key_id', 'text', (c) => c.notNull())
        .addColumn('wrapped_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('rotated_at', 'text')
        .execute();

      await db.schema
        .createTable('secrets')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('ciphertext', 'text', (c) => c.notNull())
        .addColumn('hint', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_pk', ['environment_id', 'name'])
        .execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      await db.schema.createIndex('api_keys_environment').on('api_keys').columns(['workspace_id', 'environment_id']).execute();

      // Changes that runtimes follow, numbered with the audit entry that recorded them: the
      // sequence is gap-free and in commit order per workspace, so `seq > last seen` never
      // skips an event, on one node or many.
      await db.schema
        .createTable('change_events')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('environment_id', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('change_events_pk', ['workspace_id', 'seq'])
        .execute();
    },
  },
  '0003_people': {
    async up(db: Kysely<any>) {
      // scrypt hash of the user's password; null for users who have not set one.
      await db.schema.alterTable('users').addColumn('password_hash', 'text').execute();
    },
  },
  '0004_audit_append_only': {
    async up(db: Kysely<any>) {
      // The database itself refuses to change or remove an audit entry.
      if (dialect === 'postgres') {
        await sql`create function stageline_audit_append_only() returns trigger language plpgsql as $$
          begin raise exception 'audit_log is append-only'; end $$`.execute(db);
        await sql`create trigger audit_log_append_only before update or delete on audit_log
          for each row execute function stageline_audit_append_only()`.execute(db);
      } else {
        await sql`create trigger audit_log_no_update before update on audit_log
          begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
        await sql`create trigger audit_log_no_delete before delete on audit_log
          begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
      }
    },
  },
  '0005_freezes': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('freeze_windows')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('starts_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('freeze_windows_environment').on('freeze_windows').columns(['workspace_id', 'environment_id', 'ends_at']).execute();
      await db.schema
        .createTable('review_items')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('opened_by', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'text', (c) => c.notNull())
        .addColumn('acknowledged_by', 'text')
        .addColumn('acknowledged_at', 'text')
        .execute();
      await db.schema.createIndex('review_items_open').on('review_items').columns(['workspace_id', 'acknowledged_at']).execute();
    },
  },
  '0006_data': {
    async up(db: Kysely<any>) {
      // Runtime records per environment and collection; the value is JSON text.
      await db.schema
        .createTable('data_records')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('collection', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('id', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('data_records_pk', ['environment_id', 'collection', 'id'])
        .execute();
    },
  },
  '0007_promotion_requests': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('promotion_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('source_environment_id', 'text', (c) => c.notNull())
        .addColumn('source_release', 'integer', (c) => c.notNull())
        .addColumn('target_release', 'integer', (c) => c.notNull())
        .addColumn('input', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('plan_hash', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('approvals_required', 'integer', (c) => c.notNull())
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('requested_by_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('reason', 'text')
        .addColumn('release', 'integer')
        .execute();
      await db.schema.createIndex('promotion_requests_status').on('promotion_requests').columns(['workspace_id', 'status', 'created_at']).execute();
      await db.schema
        .createTable('promotion_approvals')
        .addColumn('request_id', 'text', (c) => c.notNull().references('promotion_requests.id').onDelete('cascade'))
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('promotion_approvals_pk', ['request_id', 'actor_id', 'decision'])
        .execute();
    },
  },
  '0008_branches': {
    async up(db: Kysely<any>) {
      // A branch remembers the parent's release it forked at, the snapshot its next merge is
      // three-way against (moved forward by each merge), and when it expires.
      await db.schema.alterTable('environments').addColumn('fork_release', 'integer').execute();
      await db.schema.alterTable('environments').addColumn('merge_base', 'text').execute();
      await db.schema.alterTable('environments').addColumn('expires_at', 'text').execute();
      await db.schema.createIndex('environments_expiry').on('environments').columns(['expires_at']).execute();
    },
  },
  '0009_feeds': {
    async up(db: Kysely<any>) {
      // In-app messages per environment and recipient.
      await db.schema
        .createTable('feed_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('recipient', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('run_id', 'text')
        .addColumn('workflow', 'text')
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('read_at', 'text')
        .execute();
      await db.schema.createIndex('feed_messages_recipient').on('feed_messages').columns(['environment_id', 'recipient', 'created_at']).execute();
    },
  },
  '0010_workflows': {
    async up(db: Kysely<any>) {
      // One row per triggered (or test) run: what was triggered, pinned to the release it read.
      await db.schema
        .createTable('workflow_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('workflow', 'text', (c) => c.notNull())
        .addColumn('release', 'integer', (c) => c.notNull())
        .addColumn('snapshot_id', 'text')
        .addColumn('content_hash', 'text', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text')
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('recipients', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        // NULLs are distinct in both databases: only runs given a key are constrained.
        .addUniqueConstraint('workflow_runs_idempotency', ['environment_id', 'idempotency_key'])
        .execute();
      await db.schema.createIndex('workflow_runs_environment').on('workflow_runs').columns(['environment_id', 'created_at']).execute();

      // The step log: one row per step and recipient once the step has been attempted.
      await db.schema
        .createTable('workflow_steps')
        .addColumn('run_id', 'text', (c) => c.notNull().references('workflow_runs.id').onDelete('cascade'))
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('recipient_index', 'integer', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('message_ids', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('error', 'text')
        .addColumn('wake_at', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addPrimaryKeyConstraint('workflow_steps_pk', ['run_id', 'step', 'recipient_index'])
        .execute();

      // The durable queue: a run's next execution, claimed under a lease by one worker at a time.
      await db.schema
        .createTable('workflow_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('run_id', 'text', (c) => c.notNull().unique().references('workflow_runs.id').onDelete('cascade'))
        .addColumn('run_at', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'text')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // Due queued jobs in time order, and running jobs by lease expiry (the ones to take over).
      await db.schema.createIndex('workflow_jobs_due').on('workflow_jobs').columns(['status', 'run_at']).execute();
      await db.schema.createIndex('workflow_jobs_lease').on('workflow_jobs').columns(['status', 'lease_expires_at']).execute();
    },
  },
  '0011_audit_keyed': {
    async up(db: Kysely<any>) {
      // New nullable columns only: existing entries (append-only) keep key_id null and their
      // unkeyed hashes; each node keys such chains at start with one marker entry.
      await db.schema.alterTable('audit_log').addColumn('key_id', 'text').execute();
      await db.schema.alterTable('workspaces').addColumn('audit_key_id', 'text').execute();
      // Each workspace's audit key, wrapped by the master key like its data key.
      await db.schema
        .createTable('audit_keys')
        .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id').onDelete('cascade'))
        .addColumn('master_key_id', 'text', (c) => c.notNull())
        .addColumn('wrapped_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('rotated_at', 'text')
        .execute();
    },
  },
  '0012_activity': {
    async up(db: Kysely<any>) {
      // Runtime writes made with API keys: append-only, not chained, pruned after a retention period.
      await db.schema
        .createTable('activity_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('actor_kind', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .execute();
      // Pages of one workspace newest first; the retention sweep deletes by age across workspaces.
      await db.schema.createIndex('activity_log_workspace_at').on('activity_log').columns(['workspace_id', 'at', 'id']).execute();
      await db.schema.createIndex('activity_log_at').on('activity_log').columns(['at']).execute();
    },
  },
  '0013_change_ids': {
    async up(db: Kysely<any>) {
      // Change events get their own per-workspace counter, moved under the workspace row's lock.
      // It starts at the audit head, so every id a stream has already handed out stays valid.
      await db.schema.alterTable('workspaces').addColumn('change_seq', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await sql`update workspaces set change_seq = audit_seq`.execute(db);
    },
  },
  '0014_rollback_approvals': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('environments').addColumn('approvals_for_rollback', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('promotion_requests').addColumn('kind', 'text', (c) => c.notNull().defaultTo('promotion')).execute();
      // References are now read from the parsed template (computed variable names included):
      // recorded ones are recomputed from the content when next needed.
      await db.updateTable('contents').set({ refs: null }).execute();
    },
  },
  '0015_leases': {
    async up(db: Kysely<any>) {
      // Named leases: a periodic job (alert evaluation, watches, event delivery) runs on the one
      // node holding its lease; another node takes it over once it expires.
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0016_metrics': {
    async up(db: Kysely<any>) {
      // Rollups of the hot-path counters: each node writes its own rows (minute and hour), and
      // reads merge every node's. Buckets: the sparse latency histogram {index: count} as JSON.
      await db.schema
        .createTable('metric_rollups')
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('resolution', 'text', (c) => c.notNull())
        .addColumn('bucket_start', byteOrderedText(dialect), (c) => c.notNull())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('family', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('requests', 'integer', (c) => c.notNull())
        .addColumn('s2xx', 'integer', (c) => c.notNull())
        .addColumn('s3xx', 'integer', (c) => c.notNull())
        .addColumn('s4xx', 'integer', (c) => c.notNull())
        .addColumn('s5xx', 'integer', (c) => c.notNull())
        .addColumn('errors', 'integer', (c) => c.notNull())
        .addColumn('upstream_errors', 'integer', (c) => c.notNull())
        .addColumn('duration_count', 'integer', (c) => c.notNull())
        .addColumn('duration_sum_ms', 'double precision', (c) => c.notNull())
        .addColumn('buckets', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('metric_rollups_pk', ['node_id', 'resolution', 'bucket_start', 'workspace_id', 'environment_id', 'family', 'subject'])
        .execute();
      // Reads: one environment's family and subject over a range; retention: by age per resolution.
      await db.schema
        .createIndex('metric_rollups_read')
        .on('metric_rollups')
        .columns(['workspace_id', 'environment_id', 'family', 'subject', 'resolution', 'bucket_start'])
        .execute();
      await db.schema.createIndex('metric_rollups_age').on('metric_rollups').columns(['resolution', 'bucket_start']).execute();
    },
  },
  '0017_alerts': {
    async up(db: Kysely<any>) {
      // Alert rules with their state (ok | firing); receiver secrets sealed in `channels_sealed`.
      await db.schema
        .createTable('alert_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('metric', 'text', (c) => c.notNull())
        .addColumn('comparison', 'text', (c) => c.notNull())
        .addColumn('threshold', 'double precision', (c) => c.notNull())
        .addColumn('window_minutes', 'integer', (c) => c.notNull())
        .addColumn('min_requests', 'integer', (c) => c.notNull())
        .addColumn('channels', 'text', (c) => c.notNull())
        .addColumn('channels_sealed', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_since', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('alert_rules_name', ['workspace_id', 'environment_id', 'name'])
        .execute();
      await db.schema
        .createTable('alert_silences')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text')
        .addColumn('starts_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alert_silences_env').on('alert_silences').columns(['workspace_id', 'environment_id', 'ends_at']).execute();
      // One row per transition: the history of `GET …/alerts`.
      await db.schema
        .createTable('alert_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('environment', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('rule', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('value', 'double precision')
        .addColumn('silenced', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alert_events_workspace_at').on('alert_events').columns(['workspace_id', 'at', 'id']).execute();
      await db.schema.createIndex('alert_events_env_at').on('alert_events').columns(['workspace_id', 'environment_id', 'state', 'at']).execute();
      // The outbox: one row per (transition, channel), retried with backoff until delivered or given up.
      await db.schema
        .createTable('alert_notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('channel_index', 'integer', (c) => c.notNull())
        .addColumn('channel_type', 'text', (c) => c.notNull())
        .addColumn('channels_sealed', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('alert_notifications_due').on('alert_notifications').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('alert_notifications_event').on('alert_notifications').columns(['workspace_id', 'event_id']).execute();
    },
  },
  '0018_gates': {
    async up(db: Kysely<any>) {
      // Promotion gates of an environment (one row; none: ungated), CI checks reported on a
      // release (every report kept; the highest seq per name is its state), and the checklist
      // items ticked on a promotion request (the latest tick per item, with who ticked it).
      await db.schema
        .createTable('environment_gates')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('checks', 'text', (c) => c.notNull())
        .addColumn('checklist', 'text', (c) => c.notNull())
        .addColumn('soak_minutes', 'integer', (c) => c.notNull())
        .addColumn('auto_apply', 'integer', (c) => c.notNull())
        .addColumn('watch', 'text')
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('environment_gates_pk', ['workspace_id', 'environment_id'])
        .execute();
      await db.schema
        .createTable('release_checks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('release', 'integer', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('url', 'text')
        .addColumn('summary', 'text')
        .addColumn('reported_by', 'text', (c) => c.notNull())
        .addColumn('reported_by_name', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addUniqueConstraint('release_checks_seq', ['workspace_id', 'environment_id', 'release', 'seq'])
        .execute();
      await db.schema
        .createTable('checklist_ticks')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('item', 'text', (c) => c.notNull())
        .addColumn('done', 'integer', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('actor_name', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('checklist_ticks_pk', ['workspace_id', 'request_id', 'item'])
        .execute();
    },
  },
  '0019_watches': {
    async up(db: Kysely<any>) {
      // The watch that follows a promotion (thresholds and figures as JSON), and the hold a
      // breach puts on its environment: at most one per environment, cleared by a member.
      await db.schema
        .createTable('watches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('release', 'integer', (c) => c.notNull())
        .addColumn('previous_release', 'integer', (c) => c.notNull())
        .addColumn('thresholds', 'text', (c) => c.notNull())
        .addColumn('baseline_from', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('ends_at', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('outcome', 'text')
        .execute();
      await db.schema.createIndex('watches_environment').on('watches').columns(['workspace_id', 'environment_id', 'started_at']).execute();
      await db.schema.createIndex('watches_status').on('watches').columns(['status', 'ends_at']).execute();
      await db.schema
        .createTable('environment_holds')
        .addColumn('environment_id', 'text', (c) => c.primaryKey().references('environments.id').onDelete('cascade'))
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('since', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('release', 'integer')
        .addColumn('watch_id', 'text')
        .execute();
    },
  },
  '0020_events': {
    async up(db: Kysely<any>) {
      // Outbound events: subscriptions (url and signing secret sealed with the workspace data
      // key), the outbox written in the change's transaction, one delivery row per subscriber.
      await db.schema
        .createTable('event_subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('url_sealed', 'text', (c) => c.notNull())
        .addColumn('url_hint', 'text', (c) => c.notNull())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('types', 'text', (c) => c.notNull())
        .addColumn('environments', 'text')
        .addColumn('description', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('event_subscriptions_workspace').on('event_subscriptions').columns(['workspace_id', 'created_at']).execute();
      await db.schema
        .createTable('events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text')
        .addColumn('environment', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('event_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'text')
        .addColumn('last_attempt_at', 'text')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('last_response', 'text')
        .addColumn('delivered_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // The dispatcher's scan (due pending rows, oldest first) and each subscription's log.
      await db.schema.createIndex('event_deliveries_due').on('event_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('event_deliveries_subscription').on('event_deliveries').columns(['workspace_id', 'subscription_id', 'created_at', 'id']).execute();
    },
  },
  '0021_snapshot_trees': {
    async up(db: Kysely<any>) {
      // Snapshots as content-addressed trees (src/domain/releases/tree.ts): a release's map is
      // the tree under snapshots.root, and versions share every node they have in common. The
      // flat snapshot_entries rows of earlier snapshots are converted at start-up, a snapshot
      // per transaction (convertFlatSnapshots in src/store/trees.ts), so an interrupted
      // conversion resumes where it stopped.
      await db.schema
        .createTable('tree_nodes')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('level', 'integer', (c) => c.notNull())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('tree_nodes_pk', ['workspace_id', 'hash'])
        .execute();
      await db.schema.alterTable('snapshots').addColumn('root', 'text').execute();
    },
  },
  '0022_gc': {
    async up(db: Kysely<any>) {
      // Garbage collection (src/services/gc.ts) deletes a stored node, snapshot row or content
      // only when no live root reaches it AND nobody wrote or re-used it within the grace period
      // before the mark started: every writer that stores one that may exist already bumps
      // touched_at. Rows stored before are dated by their snapshot's creation or by now.
      const now = new Date().toISOString();
      for (const table of ['tree_nodes', 'snapshots', 'contents']) {
        await db.schema.alterTable(table).addColumn('touched_at', 'text', (c) => c.notNull().defaultTo(now)).execute();
      }
      await db.updateTable('snapshots').set({ touched_at: sql`created_at` }).execute();
    },
  },
  '0023_tree_node_deltas': {
    async up(db: Kysely<any>) {
      // A node may be stored as a delta of a whole node, its keyframe, named by `base`
      // (src/domain/releases/tree-delta.ts); null: `body` is the whole node.
      await db.schema.alterTable('tree_nodes').addColumn('base', 'text').execute();
    },
  },
  '0024_recipient_preferences': {
    async up(db: Kysely<any>) {
      // A recipient's preference set in one environment (src/domain/preferences/preferences.ts),
      // read by every channel step at delivery time; `version` counts the writes.
      await db.schema
        .createTable('recipient_preferences')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('preferences', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('recipient_preferences_pk', ['environment_id', 'recipient'])
        .execute();
    },
  },
  '0025_tree_node_bases': {
    async up(db: Kysely<any>) {
      // The sweep keeps every node a stored delta names as its base (src/store/gc.ts).
      await sql`create index tree_nodes_base on tree_nodes (workspace_id, base) where base is not null`.execute(db);
    },
  },
});

/** Applies every pending migration, or (for tests of a migration) those up to and including `until`. */
export async function migrate(db: Kysely<any>, dialect: Dialect, until?: string): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const migrator = new Migrator({ db, provider, migrationTableName: 'stageline_migrations', migrationLockTableName: 'stageline_migrations_lock' });
  const { error, results } = until ? await migrator.migrateTo(until) : await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
