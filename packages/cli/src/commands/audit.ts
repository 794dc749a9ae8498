// audit: the workspace's hash-chained audit log — filtered pages, the chain check (against a
// saved signed checkpoint too), the signed checkpoint itself, and an NDJSON export.
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { apiError, connect, unreachable, type Connection, type components } from '../api.js';
import type { Context } from '../context.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { plural } from '../output.js';
import { action, examples } from '../program.js';
import { timeArgument, wholeNumber } from '../arguments.js';

type AuditEntry = components['schemas']['AuditEntry'];
type VerifyResult = components['schemas']['AuditVerifyResult'];

/** The API's largest page; STAGELINE_PAGE_SIZE lowers it (tests, slow links). */
function pageSize(env: NodeJS.ProcessEnv): number {
  const n = Number(env.STAGELINE_PAGE_SIZE);
  return Number.isInteger(n) && n >= 1 && n <= 500 ? n : 500;
}

interface AuditOptions {
  env?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
  limit: number;
  all?: boolean;
  verify?: boolean;
  checkpoint?: boolean;
  checkpointFile?: string;
  export?: boolean;
  output?: string;
}

export function registerAudit(program: Command): void {
  examples(
    program
      .command('audit')
      .description('the audit log: every change, by whom, where; --verify checks the hash chain, --checkpoint prints a signed checkpoint, --export writes NDJSON')
      .option('-e, --env <env>', 'only entries of this environment')
      .option('--actor <id|email>', 'only entries of this actor (an id, a member email or a service token name)')
      .option('--action <action>', 'only this action (release.promote) or family (secret.*)')
      .option('--since <when>', 'from this time: an ISO date-time or a duration ago (2h, 7d)')
      .option('--until <when>', 'before this time: an ISO date-time or a duration ago')
      .option('--limit <n>', 'at most this many entries, newest first (paged through as needed)', wholeNumber('--limit', 1), 50)
      .option('--all', 'every matching entry (no limit)')
      .option('--verify', 'check the hash chain; exit 1 when it is broken, saying where')
      .option('--checkpoint-file <file>', 'with --verify: also check that the log still extends this saved checkpoint')
      .option('--checkpoint', 'print a signed checkpoint of the chain head (save it to verify against later)')
      .option('--export', 'write the matching entries as NDJSON, oldest first (to stdout or --output)')
      .option('-o, --output <file>', 'with --export: the file to write')
      .action(action(audit)),
    [
      'stageline audit --env production --since 7d',
      'stageline audit --action "secret.*" --all --json',
      'stageline audit --checkpoint > checkpoint.json',
      'stageline audit --verify --checkpoint-file checkpoint.json',
      'stageline audit --export --since 30d -o audit.ndjson',
    ],
  );
}

async function audit(ctx: Context, options: AuditOptions): Promise<void> {
  const modes = [options.verify && '--verify', options.checkpoint && '--checkpoint', options.export && '--export'].filter(Boolean);
  if (modes.length > 1) throw usageError(`${modes.join(' and ')} cannot be combined`);
  if (options.checkpointFile !== undefined && !options.verify) throw usageError('--checkpoint-file goes with --verify');
  if (options.output !== undefined && !options.export) throw usageError('--output goes with --export');
  const filtering = [options.env, options.actor, options.action, options.since, options.until].some((v) => v !== undefined);
  if ((options.verify || options.checkpoint) && filtering) throw usageError(`${modes[0]} covers the whole chain: it takes no --env, --actor, --action, --since or --until`);

  const conn = connect(ctx);
  if (options.verify) return verify(ctx, conn, options.checkpointFile);
  if (options.checkpoint) return checkpoint(ctx, conn);
  const filter = await filterOf(conn, options);
  if (options.export) return exportLog(ctx, conn, filter, options.output);
  return list(ctx, conn, filter, options.all ? Infinity : options.limit);
}

interface Filter {
  environment?: string;
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
}

async function filterOf(conn: Connection, options: AuditOptions): Promise<Filter> {
  const filter: Filter = {};
  if (options.env !== undefined) filter.environment = options.env;
  if (options.actor !== undefined) filter.actor = await actorId(conn, options.actor);
  if (options.action !== undefined) filter.action = options.action;
  if (options.since !== undefined) filter.since = timeArgument('--since', options.since, -1);
  if (options.until !== undefined) filter.until = timeArgument('--until', options.until, -1);
  return filter;
}

/**
 * The log filters by actor id; a member's email or a service token's name is looked up. When the
 * caller may not list members or tokens, the text is used as given.
 */
async function actorId(conn: Connection, actor: string): Promise<string> {
  const quietly = async <T>(read: Promise<T>) => read.catch(() => undefined);
  const [members, tokens] = await Promise.all([
    quietly(conn.call(conn.api.GET('/api/workspaces/{ws}/members', { params: { path: conn.ws() } }))),
    quietly(conn.call(conn.api.GET('/api/workspaces/{ws}/tokens', { params: { path: conn.ws() } }))),
  ]);
  const member = members?.data.find((m) => m.email === actor || m.name === actor);
  if (member) return member.userId;
  const token = tokens?.data.find((t) => t.name === actor);
  return token?.id ?? actor;
}

async function list(ctx: Context, conn: Connection, filter: Filter, limit: number): Promise<void> {
  const page = pageSize(ctx.env);
  const data: AuditEntry[] = [];
  let cursor: string | undefined;
  let next: string | null = null;
  do {
    const answer = await conn.call(
      conn.api.GET('/api/workspaces/{ws}/audit-log', {
        params: { path: conn.ws(), query: { ...filter, limit: Math.min(page, limit - data.length), ...(cursor ? { cursor } : {}) } },
      }),
    );
    data.push(...answer.data);
    next = answer.next;
    cursor = next ?? undefined;
  } while (next && data.length < limit);
  ctx.out.result({ data, next }, (r) => [
    ...(r.data.length === 0
      ? ['no audit entries match']
      : ctx.out.table(r.data, [
          { header: 'SEQ', value: (e) => e.seq, right: true },
          { header: 'AT', value: (e) => e.at },
          { header: 'ACTOR', value: (e) => e.actorName },
          { header: 'ACTION', value: (e) => e.action },
          { header: 'ENVIRONMENT', value: (e) => e.environment },
          { header: 'TARGET', value: (e) => e.target },
        ])),
    ...(r.next ? [ctx.out.style('dim', `more entries: raise --limit, or pass --all`)] : []),
  ]);
}

function readCheckpointFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    throw usageError(`${file} is not JSON: save the output of stageline audit --checkpoint`);
  }
}

async function verify(ctx: Context, conn: Connection, checkpointFile: string | undefined): Promise<void> {
  const checkpoint = checkpointFile !== undefined ? readCheckpointFile(checkpointFile) : undefined;
  const result = await conn.call(conn.api.GET('/api/workspaces/{ws}/audit-log/verify', { params: { path: conn.ws(), query: checkpoint ? { checkpoint } : {} } }));
  const broken = !result.valid || result.checkpoint?.valid === false;
  ctx.out.result(result, (r) => describeVerification(ctx, r));
  if (broken) {
    // The result is printed in full (as JSON with --json); the exit code says it failed.
    if (!ctx.out.json) ctx.out.note(`stageline: ${brokenMessage(result)}`);
    process.exitCode = EXIT.failure;
  }
}

/** Whether the chain itself holds (a checkpoint that no longer holds also makes `valid` false). */
function chainHolds(r: VerifyResult): boolean {
  return r.firstBroken === null && (r.valid || r.checkpoint?.valid === false);
}

function brokenMessage(r: VerifyResult): string {
  if (r.firstBroken) return `the audit chain is broken at entry ${r.firstBroken.seq} (${r.firstBroken.reason.replace(/_/g, ' ')})`;
  if (r.checkpoint?.valid === false) return `the log no longer extends the checkpoint at entry ${r.checkpoint.seq} (${(r.checkpoint.reason ?? 'invalid').replace(/_/g, ' ')})`;
  return 'the audit chain does not verify';
}

function describeVerification(ctx: Context, r: VerifyResult): string[] {
  const lines = chainHolds(r)
    ? [`${ctx.out.style('green', '✓')} the audit chain verifies: ${plural(r.entries, 'entry', 'entries')}${r.head ? `, head ${r.head.slice(0, 16)}…` : ''}`]
    : [`${ctx.out.style('red', '✗')} ${brokenMessage(r)}`];
  if (r.unkeyed) lines.push(ctx.out.style('dim', `entries ${r.unkeyed.from}–${r.unkeyed.to} predate the chain key (plain SHA-256)`));
  if (r.checkpoint) {
    lines.push(
      r.checkpoint.valid
        ? `${ctx.out.style('green', '✓')} the log still extends the checkpoint at entry ${r.checkpoint.seq}`
        : `${ctx.out.style('red', '✗')} the checkpoint at entry ${r.checkpoint.seq} does not hold (${(r.checkpoint.reason ?? 'invalid').replace(/_/g, ' ')})`,
    );
  }
  return lines;
}

async function checkpoint(ctx: Context, conn: Connection): Promise<void> {
  const signed = await conn.call(conn.api.GET('/api/workspaces/{ws}/audit-log/checkpoint', { params: { path: conn.ws() } }));
  // Human output is the JSON too: it is meant to be saved (stageline audit --checkpoint > checkpoint.json).
  ctx.out.result(signed, (c) => JSON.stringify(c, null, 2));
}

async function exportLog(ctx: Context, conn: Connection, filter: Filter, output: string | undefined): Promise<void> {
  let result: { error?: unknown; response: Response; data?: unknown };
  try {
    result = await conn.api.GET('/api/workspaces/{ws}/audit-log/export', { params: { path: conn.ws(), query: filter }, parseAs: 'stream' });
  } catch (cause) {
    throw unreachable(ctx.url, cause);
  }
  if (!result.response.ok) {
    const body = await result.response.json().catch(() => undefined);
    throw apiError(ctx, result.response.status, body);
  }
  const body = (result.data ?? result.response.body) as ReadableStream<Uint8Array> | null;
  if (!body) throw new CliError('the server sent no export');
  const source = Readable.fromWeb(body);
  if (output === undefined) {
    // NDJSON on stdout is the result itself, with --json or without.
    await pipeline(source, new Writable({ write: (chunk, _encoding, done) => (ctx.out.stdout.write(chunk) ? done() : ctx.out.stdout.once('drain', () => done())) }));
    return;
  }
  let lines = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (const byte of chunk) if (byte === 10) lines += 1;
      done(null, chunk);
    },
  });
  await pipeline(source, counted, createWriteStream(output, { mode: 0o600 }));
  ctx.out.result({ file: output, entries: lines }, (r) => `${ctx.out.style('green', '✓')} wrote ${plural(r.entries, 'audit entry', 'audit entries')} to ${r.file}`);
}
