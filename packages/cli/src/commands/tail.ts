// tail: follow an environment's change stream (GET …/environments/:env/stream, the management face
// of the runtime's stream hub) and print one line per event, or one JSON object per line (NDJSON).
// The SDK's subscription does the following: its parser, resume by Last-Event-ID and reconnect
// backoff, pointed at the management stream with the member's token.
import { createClient, StagelineError, type ChangeEvent } from '@stageline/client';
import type { Command } from 'commander';
import { apiError, connect, send, type Connection } from '../api.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { plural } from '../output.js';
import { counts, parseNumber } from '../plans.js';
import { action, examples } from '../program.js';
import { envOf } from './releases.js';

/** Resources a release event lists (its counts are always complete). */
const LISTED = 100;
const SHOWN = 5;

export function registerTail(program: Command): void {
  examples(
    program
      .command('tail')
      .description("follow an environment's changes: one line per event (id, type, what changed, release, who); --json prints one JSON object per line (NDJSON); Ctrl-C stops")
      .option('-e, --env <env>', 'the environment (default: stageline.json "env", else development)')
      .option('--since <id>', 'first replay the changes after this event id (the first column of an earlier tail)', parseNumber('--since', 0))
      .action(action(tail)),
    ['stageline tail --env production', 'stageline tail --env staging --since 1042', "stageline tail --env production --json | jq -c 'select(.type == \"release\")'"],
  );
}

interface TailOptions {
  env?: string;
  since?: number;
}

/** One event as tail prints it with --json (the stream's fields, and for releases what they hold). */
export interface TailEvent {
  id: number;
  type: string;
  at: string | null;
  environment: string;
  [field: string]: unknown;
}

async function tail(ctx: Context, options: TailOptions): Promise<void> {
  const conn = connect(ctx);
  const env = envOf(ctx, options.env);
  // A wrong token, an unknown environment or an unreachable server fail now, with their message.
  await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}', { params: { path: conn.ws({ env }) } }));

  const stream = `${ctx.url}/api/workspaces/${encodeURIComponent(ctx.workspace)}/environments/${encodeURIComponent(env)}/stream`;
  let following = false;
  let lost = false;
  const adapter: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    // After a `reset` the SDK refetches its cache; tail keeps none.
    if (!url.pathname.endsWith('/v1/stream')) return Response.json({ data: [], next: null, release: 0 });
    const headers = new Headers(init?.headers);
    headers.set('user-agent', 'stageline-cli');
    // Until the stream has sent an id of its own, the SDK resumes from --since.
    if (!headers.has('last-event-id') && options.since !== undefined) headers.set('last-event-id', String(options.since));
    const response = await fetch(stream, { ...init, headers });
    if (response.ok && (!following || lost)) {
      ctx.out.note(ctx.out.style('dim', lost ? `reconnected to ${env}` : `following ${env} at ${ctx.url} (Ctrl-C to stop)`));
      following = true;
      lost = false;
    }
    return response;
  };
  const client = createClient({ baseUrl: ctx.url, apiKey: ctx.token!, fetch: adapter, reconnect: { initialDelayMs: 1_000, maxDelayMs: 30_000 } });

  await new Promise<void>((resolve, reject) => {
    let printing = Promise.resolve();
    const stop = () => {
      unsubscribe();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      printing.then(resolve, reject);
    };
    const unsubscribe = client.subscribe(
      (event) => {
        printing = printing.then(() => print(ctx, conn, env, event)).catch(reject);
      },
      {
        refresh: false,
        onError: (error) => {
          const status = error instanceof StagelineError ? error.status : 0;
          // A 4xx ends the subscription (the SDK does not retry it): so does tail.
          if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
            unsubscribe();
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            reject(apiError(ctx, status, { error: { code: (error as StagelineError).code, message: error.message } }));
            return;
          }
          if (!lost) ctx.out.warn(`lost the stream of ${env} (${error.message}); reconnecting`);
          lost = true;
        },
      },
    );
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function print(ctx: Context, conn: Connection, env: string, event: ChangeEvent): Promise<void> {
  const { seq: _seq, type: _type, at, environment, ...fields } = event.data;
  const line: TailEvent = { id: event.id, type: event.type, at: typeof at === 'string' ? at : null, environment: typeof environment === 'string' ? environment : env, ...fields };
  if (event.type === 'release' && typeof fields.release === 'number') Object.assign(line, await releaseFacts(ctx, conn, line.environment, fields.release));
  if (ctx.out.json) {
    ctx.out.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  const time = line.at ? line.at.slice(11, 19) : '--:--:--';
  ctx.out.stdout.write(`${ctx.out.style('dim', `${String(line.id).padStart(6)}  ${time}`)}  ${ctx.out.style('cyan', line.type.padEnd(11))}  ${describe(ctx, line)}\n`);
}

/** Who made the release, what caused it and which resources it changed (when they can be read). */
async function releaseFacts(ctx: Context, conn: Connection, env: string, number: number): Promise<Record<string, unknown>> {
  try {
    const release = await send(ctx, conn.api.GET('/api/workspaces/{ws}/environments/{env}/releases/{number}', { params: { path: conn.ws({ env, number }) } }));
    let changes: { resource: string; status: string }[];
    if (number > 1) {
      const diff = await send(ctx, conn.api.GET('/api/workspaces/{ws}/diff', { params: { path: conn.ws(), query: { from: `${env}#${number - 1}`, to: `${env}#${number}` } } }));
      changes = diff.changes.map((c) => ({ resource: `${c.kind}/${c.key}`, status: c.status }));
    } else {
      changes = release.resources.map((r) => ({ resource: `${r.kind}/${r.key}`, status: 'added' }));
    }
    const summary = { added: 0, changed: 0, removed: 0 };
    for (const change of changes) summary[change.status as keyof typeof summary]++;
    return {
      name: release.name,
      cause: release.cause,
      source: release.source,
      rolledBackTo: release.rolledBackTo,
      message: release.message,
      by: release.author.name,
      changes: summary,
      resources: changes.slice(0, LISTED),
      ...(changes.length > LISTED ? { moreResources: changes.length - LISTED } : {}),
    };
  } catch (error) {
    // The release may be gone with its environment: the event is still worth its line.
    if (error instanceof CliError && error.code !== 'unreachable') return {};
    throw error;
  }
}

const MARK: Record<string, string> = { added: '+', changed: '~', removed: '-' };

function describe(ctx: Context, e: TailEvent): string {
  const bold = (text: string) => ctx.out.style('bold', text);
  switch (e.type) {
    case 'release': {
      const name = typeof e.name === 'string' ? e.name : `${e.environment}#${String(e.release)}`;
      const cause = e.cause === 'rollback' ? `rollback to #${String(e.rolledBackTo)}` : typeof e.source === 'string' ? `${String(e.cause)} of ${e.source}` : String(e.cause ?? '');
      const resources = (e.resources as { resource: string; status: string }[] | undefined) ?? [];
      const total = resources.length + ((e.moreResources as number | undefined) ?? 0);
      const listed = resources.slice(0, SHOWN).map((r) => `${MARK[r.status] ?? ''}${r.resource}`).join(' ');
      const changed = e.changes ? `: ${counts(e.changes as { added: number; changed: number; removed: number })}${listed ? ` (${listed}${total > SHOWN ? ` and ${plural(total - SHOWN, 'more')}` : ''})` : ''}` : '';
      return `${bold(name)} ${cause}${changed}${typeof e.by === 'string' ? ` by ${e.by}` : ''}`;
    }
    case 'override':
      return `${bold(String(e.resource))} override changed`;
    case 'active':
      return `${bold(String(e.resource))} switched ${e.active ? 'on' : 'off'}`;
    case 'variable':
      return `vars.${bold(String(e.name))} changed`;
    case 'secret':
      return `secrets.${bold(String(e.name))} changed`;
    case 'setting':
      return `setting ${bold(String(e.name))} changed`;
    case 'environment':
      return e.deleted ? `${bold(e.environment)} deleted` : `${bold(e.environment)} changed${Array.isArray(e.changed) ? `: ${e.changed.join(', ')}` : ''}`;
    case 'reset':
      return 'events were missed (no longer kept): reload whatever you derived from earlier ones';
    default:
      return JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => !['id', 'type', 'at', 'environment'].includes(k))));
  }
}
