// Configuration as code: `pull` writes an environment's resources as `<dir>/<kind>/<key>.yaml`
// with a lock file, `push` turns edited files into drafts (and a commit), `diff` compares files,
// environments, releases and drafts, `validate` checks files against a target environment.
import { relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { connect, type Connection } from '../api.js';
import type { Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { plural } from '../output.js';
import { action, examples } from '../program.js';
import { fieldChanges, renderChanges, summarise, type ResourceChange } from '../files/compare.js';
import { isResourceKind, renderFile, RESOURCE_KEY_PATTERN, type Json, type ResourceKind } from '../files/format.js';
import {
  CONCURRENCY,
  listResources,
  mapLimit,
  readEnvironment,
  readResource,
  summaryHash,
  workingState,
  type Resource,
  type ResourceSummary,
} from '../files/remote.js';
import { filePathOf, readLock, readTree, removeResourceFile, writeLock, writeResourceFile, type LocalFile, type LocalTree, type Lock, type LockEntry } from '../files/tree.js';
import { validateTree } from '../files/validate.js';

export const DEFAULT_ENV = 'development';

interface TreeOptions {
  env?: string;
  dir?: string;
}

export function registerFiles(program: Command): void {
  examples(
    program
      .command('pull')
      .description('write every resource of an environment as <dir>/<kind>/<key>.yaml, with a lock file (stageline.lock) recording the release pulled')
      .option('-e, --env <env>', 'the environment (default: the lock file\'s, then stageline.json "env", then development)')
      .option('--dir <dir>', 'the resource folder (default: stageline.json "directory", then stageline/)')
      .option('--force', 'overwrite local edits that were not pushed')
      .action(action(pull)),
    ['stageline pull', 'stageline pull --env staging --dir config/', 'stageline pull --json | jq .written'],
  );

  examples(
    program
      .command('push')
      .description('write the edited, added and deleted files as drafts of an editable environment, and commit them with --commit')
      .option('-e, --env <env>', 'the environment (default: the lock file\'s, then stageline.json "env", then development)')
      .option('--dir <dir>', 'the resource folder (default: stageline.json "directory", then stageline/)')
      .option('--commit', 'commit the drafts this tree holds into a new release')
      .option('-m, --message <message>', 'the commit message (with --commit)')
      .option('--force', 'write even the resources the server changed since the pull')
      .option('--dry-run', 'show what would change and write nothing')
      .action(action(push)),
    [
      'stageline push --dry-run',
      'stageline push --commit -m "Checkout URL for the new PSP"',
      'stageline push --env feature-checkout --force',
    ],
  );

  examples(
    program
      .command('diff')
      .description('local files against an environment, or two states: env (current release), env#N (a release), env~draft (with drafts)')
      .argument('[from]', 'a state: env, env#N or env~draft (alone: an environment to compare the local files with)')
      .argument('[to]', 'the other state')
      .option('-e, --env <env>', 'the environment the local files are compared with')
      .option('--dir <dir>', 'the resource folder')
      .option('--exit-code', 'exit 1 when there is a difference (like git diff --exit-code)')
      .option('--names-only', 'one line per resource, no fields')
      .action(action(diff)),
    ['stageline diff', 'stageline diff staging', 'stageline diff development staging', 'stageline diff production#41 production', 'stageline diff development development~draft --json'],
  );

  examples(
    program
      .command('validate')
      .description('check every local file: YAML, file names and kinds offline; kind schemas and references against the target environment on the server')
      .option('-e, --env <env>', 'the environment the files are meant for (references must resolve there)', undefined)
      .option('--dir <dir>', 'the resource folder')
      .addOption(new Option('--offline', 'only the checks that need no server (YAML, names, kinds, app labels)'))
      .action(action(validate)),
    ['stageline validate', 'stageline validate --env production', 'stageline validate --offline'],
  );
}

/** The folder: --dir (from the working directory), else the project's (stageline.json, default stageline/). */
export function directoryOf(ctx: Context, dir: string | undefined): string {
  return dir ? resolve(ctx.cwd, dir) : ctx.project.directory;
}

function environmentOf(ctx: Context, flag: string | undefined, lock: Lock | null): string {
  return flag ?? (lock && lock.workspace === ctx.workspace ? lock.environment : undefined) ?? ctx.project.env ?? DEFAULT_ENV;
}

/** The lock when it describes this workspace and environment (another one's lock is no base). */
function usableLock(ctx: Context, lock: Lock | null, env: string): Lock | null {
  return lock && lock.workspace === ctx.workspace && lock.environment === env ? lock : null;
}

function shown(ctx: Context, dir: string): string {
  const rel = relative(ctx.cwd, dir);
  return `${rel === '' ? '.' : rel}/`;
}

function treeIssues(tree: LocalTree): CliError | null {
  if (tree.issues.length === 0) return null;
  return new CliError(`${plural(tree.issues.length, 'file problem')}: ${tree.issues.map((i) => `${i.path}: ${i.field ? `${i.field} ` : ''}${i.message}`).join('; ')}`, {
    code: 'invalid_files',
    details: tree.issues.map((i) => ({ field: i.path + (i.field ? ` ${i.field}` : ''), message: i.message })),
  });
}

// ---------------------------------------------------------------------------------------------
// pull

async function pull(ctx: Context, options: TreeOptions & { force?: boolean }): Promise<void> {
  const dir = directoryOf(ctx, options.dir);
  const previous = readLock(dir);
  const envSlug = environmentOf(ctx, options.env, previous);
  const conn = connect(ctx);
  const [env, summaries] = await Promise.all([readEnvironment(conn, envSlug), listResources(conn, envSlug)]);
  const lock = usableLock(ctx, previous, envSlug);
  const tree = readTree(dir, ctx.cwd);
  // File names come from ids: an id the key rule does not allow is never turned into a path.
  const strange = [...summaries.values()].filter((s) => !isResourceKind(s.kind) || !RESOURCE_KEY_PATTERN.test(s.key));
  if (strange.length > 0) throw new CliError(`the server listed resource ids that are not safe file names (${listIds(strange.map((s) => `${s.kind}/${s.key}`))}): nothing was written`, { code: 'unexpected_answer' });

  // Keys that differ only in case are two files: one file on macOS or Windows by default.
  const folded = new Map<string, string[]>();
  for (const id of summaries.keys()) folded.set(id.toLowerCase(), [...(folded.get(id.toLowerCase()) ?? []), id]);
  for (const ids of folded.values()) if (ids.length > 1) ctx.out.warn(`${ids.join(' and ')} differ only in case: a case-insensitive file system holds one file for them`);

  // What the server's working state is, by resource; contents read only where the local file
  // does not already hold them (same hash: the file is re-rendered from its own content).
  const wanted = new Map<string, { summary: ResourceSummary; hash: string | null | undefined }>();
  for (const [id, summary] of summaries) wanted.set(id, { summary, hash: summaryHash(summary, env.editable) });
  const toRead = [...wanted].filter(([id, w]) => w.hash !== null && (w.hash === undefined || tree.files.get(id)?.hash !== w.hash)).map(([id]) => id);
  const read = new Map<string, Resource>();
  const progress = ctx.out.progress('reading', toRead.length);
  await mapLimit(toRead, CONCURRENCY, async (id) => {
    const { summary } = wanted.get(id)!;
    read.set(id, await readResource(conn, envSlug, summary.kind, summary.key));
  }, progress);

  const target = new Map<string, { kind: ResourceKind; key: string; content: Json; hash: string; app: string | null } | null>();
  for (const [id, { summary, hash }] of wanted) {
    const resource = read.get(id);
    if (resource) {
      const state = workingState(resource, env.editable);
      target.set(id, state ? { kind: summary.kind, key: summary.key, ...state, app: resource.app } : null);
    } else if (hash === null) {
      target.set(id, null);
    } else {
      const local = tree.files.get(id)!;
      target.set(id, { kind: summary.kind, key: summary.key, content: local.content, hash: local.hash, app: summary.app });
    }
  }

  // Local edits a pull would overwrite or bring back: refused unless --force. "Edited" is against
  // the last pull, whichever environment it was of, so switching environments needs no --force.
  const overwritten: string[] = [];
  const last = lock ?? previous;
  for (const [id, file] of tree.files) {
    const base = last?.resources.get(id);
    const remote = target.get(id);
    const edited = base ? base.hash !== file.hash || base.app !== file.app : remote !== undefined;
    const differs = !remote || remote.hash !== file.hash || remote.app !== file.app;
    if (edited && differs && (base || remote)) overwritten.push(id);
  }
  for (const [id, base] of last?.resources ?? []) {
    if (base.hash !== null && !tree.files.has(id) && target.get(id)) overwritten.push(id);
  }
  if (overwritten.length > 0 && !options.force) {
    throw new CliError(`pull would overwrite local changes to ${listIds(overwritten)}: push them first, or pull --force to take the server's`, {
      exitCode: EXIT.conflict,
      code: 'local_changes',
      details: overwritten.map((id) => ({ field: id, message: 'changed locally since the last pull' })),
    });
  }

  let written = 0;
  let removed = 0;
  for (const [id, state] of [...target].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (state) {
      if (writeResourceFile(dir, state.kind, state.key, renderFile(state.kind, state.key, state.content, state.app))) written++;
    } else if (lock?.resources.has(id) || previous?.resources.has(id)) {
      const { kind, key } = wanted.get(id)!.summary;
      if (removeResourceFile(dir, kind, key)) removed++;
    }
  }
  // Files the last pull wrote whose resources are gone from the server (never other files).
  for (const [id, entry] of previous?.resources ?? []) {
    if (!target.has(id) && removeResourceFile(dir, entry.kind, entry.key)) removed++;
  }

  const resources = new Map<string, LockEntry>();
  for (const [id, { summary }] of wanted) {
    const state = target.get(id);
    resources.set(id, { kind: summary.kind, key: summary.key, hash: state?.hash ?? null, committedHash: summary.committedHash, draft: env.editable ? summary.draft : null, app: state?.app ?? summary.app });
  }
  writeLock(dir, { workspace: ctx.workspace, environment: envSlug, release: env.release, resources });

  const files = [...target.values()].filter((s) => s !== null).length;
  const result = { environment: envSlug, release: env.release, editable: env.editable, directory: dir, resources: files, written, removed, unchanged: files - written, read: toRead.length };
  ctx.out.result(result, (r) => `${ctx.out.style('green', '✓')} pulled ${plural(r.resources, 'resource')} of ${r.environment}#${r.release} into ${shown(ctx, dir)} (${r.written} written, ${r.removed} removed, ${r.unchanged} unchanged)`);
}

function listIds(ids: readonly string[], max = 10): string {
  const sorted = [...ids].sort();
  return sorted.length > max ? `${sorted.slice(0, max).join(', ')} and ${sorted.length - max} more` : sorted.join(', ');
}

// ---------------------------------------------------------------------------------------------
// push

interface PushOptions extends TreeOptions {
  commit?: boolean;
  message?: string;
  force?: boolean;
  dryRun?: boolean;
}

/** A resource the push writes: the file (or its absence), the server's state now, the base it was edited from. */
interface PlannedWrite {
  id: string;
  kind: ResourceKind;
  key: string;
  local: LocalFile | undefined;
  remote: RemoteState;
  base: LockEntry | null;
  change: ResourceChange;
}

async function push(ctx: Context, options: PushOptions): Promise<void> {
  if (options.message !== undefined && !options.commit) throw usageError('-m/--message goes with --commit');
  if (options.commit && options.message !== undefined && options.message.trim() === '') throw usageError('the commit message is empty');
  const dir = directoryOf(ctx, options.dir);
  const previous = readLock(dir);
  const envSlug = environmentOf(ctx, options.env, previous);
  const lock = usableLock(ctx, previous, envSlug);
  const tree = readTree(dir, ctx.cwd);
  const problems = treeIssues(tree);
  if (problems) throw problems;
  if (tree.files.size === 0 && !lock) throw new CliError(`no resource files in ${shown(ctx, dir)}: run stageline pull first, or add <kind>/<key>.yaml files`, { code: 'no_files' });
  if (previous && !lock) ctx.out.warn(`${shown(ctx, dir)}stageline.lock is for ${previous.workspace}/${previous.environment}: comparing the files with ${envSlug} itself (no deletions)`);

  const conn = connect(ctx);
  const env = await readEnvironment(conn, envSlug);
  if (!env.editable) {
    throw new CliError(`${envSlug} is not editable: push to development or a branch, then promote`, { exitCode: EXIT.conflict, code: 'environment_not_editable' });
  }

  // Candidates: files that differ from the lock (or, with no lock, every file); then the server's
  // state of each, read concurrently, decides whether it changed and whether it moved meanwhile.
  const ids = new Set<string>([...tree.files.keys(), ...(lock?.resources.keys() ?? [])]);
  const candidates = [...ids].filter((id) => {
    const file = tree.files.get(id);
    const base = lock?.resources.get(id);
    if (!lock) return true;
    if (!base) return true;
    if (!file) return base.hash !== null;
    return file.hash !== base.hash || file.app !== base.app;
  });
  // The list tells most of it (committed hashes, draft states); contents are read only for the
  // resources that differ and exist there, and for drafts (whose hash only a read gives).
  const summaries = await listResources(conn, envSlug);
  const toRead = candidates.filter((id) => {
    const summary = summaries.get(id);
    if (!summary) return false;
    const hash = summaryHash(summary, true);
    const local = tree.files.get(id);
    if (hash === undefined) return true;
    if (hash === null) return false;
    return !local || hash !== local.hash || summary.app !== local.app;
  });
  const read = new Map<string, Resource>();
  await mapLimit(toRead, CONCURRENCY, async (id) => {
    const [kind, key] = splitId(id);
    read.set(id, await readResource(conn, envSlug, kind, key));
  }, ctx.out.progress('comparing', toRead.length));

  const writes: PlannedWrite[] = [];
  const moved: string[] = [];
  const settled = new Map<string, LockEntry>();
  for (const id of candidates.sort()) {
    const [kind, key] = splitId(id);
    const local = tree.files.get(id);
    const now = remoteStateOf(summaries.get(id), read.get(id));
    const state = now.hash === null ? null : { hash: now.hash, content: now.content };
    const remoteApp = now.app;
    const base = lock?.resources.get(id) ?? null;
    const localHash = local?.hash ?? null;
    // Already what the file says (someone pushed the same, or a no-lock push of unchanged files).
    if (now.hash === localHash && (!local || remoteApp === local.app)) {
      // (Gone on both sides: an entry of nulls, which the lock drops.)
      settled.set(id, { kind, key, hash: localHash, committedHash: now.committedHash, draft: now.draft, app: remoteApp });
      continue;
    }
    if (!lock && !local) continue;
    // Moved: the working content (or label) is not what the pull saw. A commit of the very
    // content pulled is no conflict.
    if (base && (now.hash !== base.hash || (state !== null && remoteApp !== base.app))) moved.push(id);
    if (!base && lock && state) moved.push(id);
    const status = !local ? 'removed' : state ? 'changed' : 'added';
    writes.push({
      id,
      kind,
      key,
      local,
      remote: now,
      base,
      change: {
        kind,
        key,
        status,
        fromHash: state?.hash ?? null,
        toHash: localHash,
        ...((local?.app ?? remoteApp) !== remoteApp && status === 'changed' ? { app: { before: remoteApp, after: local?.app ?? null } } : {}),
        fields: status === 'changed' ? fieldChanges(state!.content, local!.content) : [],
        path: local?.path ?? relative(ctx.cwd, resolve(dir, filePathOf(kind, key))),
      },
    });
  }
  if (moved.length > 0 && !options.force) {
    throw new CliError(`the server changed ${listIds(moved)} since the pull: stageline diff shows how, pull --force takes the server's, push --force keeps yours`, {
      exitCode: EXIT.conflict,
      code: 'remote_moved',
      details: moved.map((id) => ({ field: id, message: 'changed on the server since the pull' })),
    });
  }

  const changes = writes.map((w) => w.change);
  if (options.dryRun) {
    const result = { environment: envSlug, dryRun: true, summary: summarise(changes), changes, moved, commit: null };
    ctx.out.result(result, (r) => [...renderChanges(ctx.out, r.changes), `${r.changes.length > 0 ? 'would push' : 'nothing to push'}: ${r.summary} (dry run, nothing written)`]);
    return;
  }

  // Write every draft (concurrently); failures are collected so one bad file names all the others too.
  const failures: { write: PlannedWrite; error: CliError }[] = [];
  await mapLimit(writes, CONCURRENCY, async (write) => {
    try {
      if (write.local) {
        const resource = await conn.call(
          conn.api.PUT('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', {
            params: { path: conn.ws({ env: envSlug, kind: write.kind, key: write.key }) },
            body: { content: write.local.content, app: write.local.app },
          }),
        );
        settled.set(write.id, entryOf(write.kind, write.key, resource, write.local.hash));
      } else {
        const deletion = await conn.call(
          conn.api.DELETE('/api/workspaces/{ws}/environments/{env}/resources/{kind}/{key}', { params: { path: conn.ws({ env: envSlug, kind: write.kind, key: write.key }) } }),
        );
        settled.set(write.id, {
          kind: write.kind,
          key: write.key,
          hash: null,
          committedHash: write.remote.committedHash,
          draft: deletion.draft ? 'deleted' : null,
          app: write.remote.app,
        });
      }
    } catch (error) {
      if (!(error instanceof CliError) || error.code === 'unreachable' || error.status === 401) throw error;
      failures.push({ write, error });
    }
  }, ctx.out.progress('pushing', writes.length));

  // The lock: entries the push settled take the server's new state; the others keep their base,
  // so a later push still notices what the server changed under them.
  const resources = new Map<string, LockEntry>(lock?.resources ?? []);
  for (const [id, entry] of settled) {
    if (entry.hash === null && entry.committedHash === null && entry.draft === null) resources.delete(id);
    else resources.set(id, entry);
  }
  let release = lock?.release ?? env.release;
  writeLock(dir, { workspace: ctx.workspace, environment: envSlug, release, resources });

  if (failures.length > 0) {
    const lines = failures.flatMap(({ write, error }) =>
      error.details.length > 0 ? error.details.map((d) => `${write.change.path}: ${d.field} ${d.message}`) : [`${write.change.path}: ${error.message}`],
    );
    throw new CliError(`${plural(failures.length, 'file')} refused by the server (${plural(writes.length - failures.length, 'other')} written as drafts):\n  ${lines.join('\n  ')}`, {
      code: failures[0]!.error.code,
      details: failures.flatMap(({ write, error }) => (error.details.length > 0 ? error.details : [{ field: '', message: error.message }]).map((d) => ({ field: `${write.change.path}${d.field ? ` ${d.field}` : ''}`, message: d.message }))),
    });
  }

  let commit: { release: number; name: string; resources: string[] } | null = null;
  if (options.commit) {
    // The drafts this tree stands for: the ones pushed now, and the ones pulled as drafts that
    // nobody changed since (someone else's newer draft is not committed in your name).
    const current = await listResources(conn, envSlug);
    const named = [...resources].filter(([id, entry]) => {
      const summary = current.get(id);
      if (!summary || summary.draft === null) return false;
      return settled.has(id) || (summary.draft === entry.draft && summary.committedHash === entry.committedHash);
    }).map(([id]) => id).sort();
    if (named.length === 0) {
      ctx.out.note('nothing to commit: the environment holds no drafts of these files');
    } else {
      const created = await conn.call(
        conn.api.POST('/api/workspaces/{ws}/environments/{env}/commits', {
          params: { path: conn.ws({ env: envSlug }) },
          body: { message: options.message ?? `stageline push: ${summarise(changes)}`, resources: named },
        }),
      );
      const number = created.number;
      release = number;
      commit = { release: number, name: `${envSlug}#${number}`, resources: named };
      for (const id of named) {
        const entry = resources.get(id)!;
        if (entry.hash === null) resources.delete(id);
        else resources.set(id, { ...entry, committedHash: entry.hash, draft: null });
      }
      writeLock(dir, { workspace: ctx.workspace, environment: envSlug, release, resources });
    }
  }

  const result = { environment: envSlug, dryRun: false, summary: summarise(changes), changes, moved, forced: moved.length > 0, commit };
  ctx.out.result(result, (r) => [
    ...renderChanges(ctx.out, r.changes),
    r.changes.length > 0 ? `${ctx.out.style('green', '✓')} pushed ${r.summary} to ${r.environment} as drafts` : `nothing to push: ${shown(ctx, dir)} matches ${r.environment}`,
    ...(r.commit ? [`${ctx.out.style('green', '✓')} committed ${plural(r.commit.resources.length, 'resource')} as ${ctx.out.style('bold', r.commit.name)}`] : []),
  ]);
}

/** The server's state of one resource from its list entry, and its read when there was one. */
interface RemoteState {
  exists: boolean;
  /** The working state's hash; null when absent (never written, or a drafted deletion). */
  hash: string | null;
  /** Known only when read. */
  content: Json;
  committedHash: string | null;
  draft: LockEntry['draft'];
  app: string | null;
}

function remoteStateOf(summary: ResourceSummary | undefined, resource: Resource | undefined): RemoteState {
  if (resource) {
    const state = workingState(resource, true);
    const draft = resource.draft ? (resource.draft.deleted ? 'deleted' : resource.committed ? 'modified' : 'created') : null;
    return { exists: true, hash: state?.hash ?? null, content: state?.content ?? null, committedHash: resource.committed?.hash ?? null, draft, app: resource.app };
  }
  if (!summary) return { exists: false, hash: null, content: null, committedHash: null, draft: null, app: null };
  return { exists: true, hash: summaryHash(summary, true) ?? null, content: null, committedHash: summary.committedHash, draft: summary.draft, app: summary.app };
}

function splitId(id: string): [ResourceKind, string] {
  const slash = id.indexOf('/');
  return [id.slice(0, slash) as ResourceKind, id.slice(slash + 1)];
}

function entryOf(kind: ResourceKind, key: string, resource: Resource | null, hash: string | null): LockEntry {
  const draft = resource?.draft ? (resource.draft.deleted ? 'deleted' : resource.committed ? 'modified' : 'created') : null;
  return { kind, key, hash, committedHash: resource?.committed?.hash ?? null, draft, app: resource?.app ?? null };
}

// ---------------------------------------------------------------------------------------------
// diff

interface DiffOptions extends TreeOptions {
  exitCode?: boolean;
  namesOnly?: boolean;
}

async function diff(ctx: Context, from: string | undefined, to: string | undefined, options: DiffOptions): Promise<void> {
  if (from !== undefined && to === undefined) {
    // One plain environment: the local files against it (`stageline diff staging`).
    if (!/^[a-z0-9][a-z0-9-]*$/.test(from) || options.env) throw usageError('give two states to compare (stageline diff development staging), one environment, or none to compare the local files');
    options = { ...options, env: from };
    from = undefined;
  }
  if (from !== undefined && to !== undefined && (options.env || options.dir)) throw usageError('--env and --dir are for comparing local files; two states take neither');
  const conn = connect(ctx);
  const result = from !== undefined && to !== undefined ? await serverDiff(conn, from, to) : await localDiff(ctx, conn, options);
  ctx.out.result(result, (r) => [
    `${ctx.out.style('bold', `${r.from} → ${r.to}`)}: ${summarise(r.changes)}`,
    ...renderChanges(ctx.out, r.changes as ResourceChange[], { fields: !options.namesOnly }),
  ]);
  // A difference is not a failure unless asked (git diff --exit-code): the result is printed whole either way.
  if (options.exitCode && result.changes.length > 0) process.exitCode = EXIT.failure;
}

async function serverDiff(conn: Connection, from: string, to: string) {
  const answer = await conn.call(conn.api.GET('/api/workspaces/{ws}/diff', { params: { path: conn.ws(), query: { from, to } } }));
  return { from: answer.from.ref, to: answer.to.ref, fromState: answer.from, toState: answer.to, changes: answer.changes as unknown as ResourceChange[] };
}

/** From the environment's working state to the local files: what a push would make of it. */
async function localDiff(ctx: Context, conn: Connection, options: TreeOptions) {
  const dir = directoryOf(ctx, options.dir);
  const lock = readLock(dir);
  const envSlug = environmentOf(ctx, options.env, lock);
  const tree = readTree(dir, ctx.cwd);
  const problems = treeIssues(tree);
  if (problems) throw problems;
  const [env, summaries] = await Promise.all([readEnvironment(conn, envSlug), listResources(conn, envSlug)]);
  const ids = [...new Set([...tree.files.keys(), ...summaries.keys()])].sort();
  const unknown = ids.filter((id) => {
    const summary = summaries.get(id);
    if (!summary) return false;
    const hash = summaryHash(summary, env.editable);
    const file = tree.files.get(id);
    return hash === undefined || (hash !== null && (!file || file.hash !== hash || file.app !== summary.app));
  });
  const read = new Map<string, Resource>();
  await mapLimit(unknown, CONCURRENCY, async (id) => {
    const summary = summaries.get(id)!;
    read.set(id, await readResource(conn, envSlug, summary.kind, summary.key));
  }, ctx.out.progress('comparing', unknown.length));

  const changes: ResourceChange[] = [];
  for (const id of ids) {
    const file = tree.files.get(id);
    const summary = summaries.get(id);
    const resource = read.get(id);
    const state = resource ? workingState(resource, env.editable) : summary && summaryHash(summary, env.editable) !== null ? { hash: summaryHash(summary, env.editable)!, content: file?.content ?? null } : null;
    const app = resource?.app ?? summary?.app ?? null;
    if (!file && !state) continue;
    if (file && state && file.hash === state.hash && file.app === app) continue;
    const [kind, key] = splitId(id);
    const status = !file ? 'removed' : !state ? 'added' : 'changed';
    changes.push({
      kind,
      key,
      status,
      fromHash: state?.hash ?? null,
      toHash: file?.hash ?? null,
      ...(status === 'changed' && file!.app !== app ? { app: { before: app, after: file!.app } } : {}),
      fields: status === 'changed' ? fieldChanges(state!.content, file!.content) : [],
      path: file?.path ?? relative(ctx.cwd, resolve(dir, filePathOf(kind, key))),
    });
  }
  const draft = env.editable ? '~draft' : '';
  return { from: `${envSlug}${draft}`, to: shown(ctx, dir), fromState: { ref: `${envSlug}${draft}`, environment: envSlug, release: env.release, draft: env.editable }, toState: { directory: dir }, changes };
}

// ---------------------------------------------------------------------------------------------
// validate

async function validate(ctx: Context, options: TreeOptions & { offline?: boolean }): Promise<void> {
  const dir = directoryOf(ctx, options.dir);
  const lock = readLock(dir);
  const envSlug = environmentOf(ctx, options.env, lock);
  const tree = readTree(dir, ctx.cwd);
  const outcome = await validateTree(tree, options.offline ? null : { conn: connect(ctx), env: envSlug });
  const result = { valid: outcome.issues.length === 0, environment: options.offline ? null : envSlug, offline: options.offline === true, files: tree.files.size, issues: outcome.issues };
  ctx.out.result(result, (r) => [
    ...r.issues.map((i) => `${ctx.out.style('red', i.path)}: ${i.field ? `${ctx.out.style('bold', i.field)} ` : ''}${i.message}`),
    r.valid
      ? `${ctx.out.style('green', '✓')} ${plural(r.files, 'file')} valid${r.environment ? ` for ${r.environment}` : ' (offline checks)'}`
      : `${plural(r.issues.length, 'problem')} in ${shown(ctx, dir)}`,
  ]);
  // The result is the answer (printed whole, JSON too); the exit code says it failed, as for diff --exit-code.
  if (!result.valid) process.exitCode = EXIT.failure;
}
