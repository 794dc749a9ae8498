// Server-sent event streams of environment changes. Each stream first replays what its client
// missed (from the change table, after its Last-Event-ID) and then follows the live feed, with
// heartbeats; a client that cannot keep up is disconnected rather than buffered without bound
// (it reconnects and resumes from its last event). A client resuming from before the retained
// change events gets one `reset` event (refetch everything) and then the live feed.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { Deps } from '../services/context.js';
import { canResumeAfter } from '../services/changes.js';
import { environmentChangesAfter } from '../services/delivery.js';
import type { ChangeEvent } from '../store/changes.js';
import type { ChangeFeed } from './change-feed.js';

/** Change types a runtime client is told about. */
const STREAMED = new Set(['release', 'override', 'active', 'variable', 'secret', 'setting', 'environment']);
export const MAX_BUFFERED_BYTES = 256 * 1024;

interface Client {
  principal: KeyPrincipal;
  /** When the key stops being valid (ms since the epoch), if it expires. */
  expiresAtMs: number | null;
  response: ServerResponse;
  /** Live events that arrive while the replay is still being written. */
  pending: ChangeEvent[] | null;
  sentSeq: number;
}

export interface StreamOptions {
  heartbeatMs?: number;
}

/** Publishable keys see public configs only: their events say what changed, not which names. */
const PUBLISHABLE_STREAMED = new Set(['release', 'override', 'active', 'variable', 'environment']);

function frame(event: ChangeEvent, kind: KeyPrincipal['kind']): string {
  const data =
    kind === 'secret'
      ? { seq: event.seq, type: event.type, at: event.at, ...event.payload }
      : { seq: event.seq, type: event.type, at: event.at, environment: event.payload.environment };
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class StreamHub {
  private readonly clients = new Set<Client>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly deps: Deps,
    private readonly feed: ChangeFeed,
    options: StreamOptions = {},
  ) {
    feed.subscribe((event) => this.dispatch(event));
    this.heartbeat = setInterval(() => {
      const now = deps.now().getTime();
      for (const client of this.clients) {
        if (client.expiresAtMs !== null && client.expiresAtMs <= now) this.end(client);
        else this.write(client, ': ping\n\n');
      }
    }, options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Takes over `response` and streams the principal's environment until the client leaves. */
  async open(principal: KeyPrincipal, response: ServerResponse, lastEventId: number | null, headers: Record<string, string>): Promise<void> {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers,
    });
    // Registered before anything is awaited: live events arriving meanwhile wait in `pending`.
    const client: Client = {
      principal,
      expiresAtMs: principal.expiresAt ? Date.parse(principal.expiresAt) : null,
      response,
      pending: [],
      sentSeq: lastEventId ?? Number.MAX_SAFE_INTEGER,
    };
    this.clients.add(client);
    response.on('close', () => this.clients.delete(client));
    try {
      this.write(client, 'retry: 2000\n\n');
      if (lastEventId === null) {
        const current = await this.feed.track(principal.workspaceId);
        client.sentSeq = current;
        // A new client learns where it starts, so its first reconnect resumes from here.
        this.write(client, `id: ${current}\nevent: ready\ndata: ${JSON.stringify({ seq: current })}\n\n`);
      } else {
        await this.feed.track(principal.workspaceId);
        await this.replay(client, lastEventId);
      }
    } catch (error) {
      // The client reconnects and resumes from its last event; nothing is kept for it here.
      this.clients.delete(client);
      response.destroy();
      throw error;
    }
    const pending = client.pending ?? [];
    client.pending = null;
    for (const event of pending) this.send(client, event);
  }

  close() {
    clearInterval(this.heartbeat);
    for (const client of this.clients) client.response.end();
    this.clients.clear();
  }

  private async replay(client: Client, after: number) {
    const { workspaceId, environmentId } = client.principal;
    for (let seq = after; ; ) {
      const events = await environmentChangesAfter(this.deps, workspaceId, environmentId, seq, 500);
      // Checked after the read: events pruned before it, or meanwhile, move the window past `seq`.
      const { resumable, latest } = await canResumeAfter(this.deps, workspaceId, seq);
      if (!resumable) return this.reset(client, latest);
      for (const event of events) this.send(client, event);
      if (events.length < 500 || !this.clients.has(client)) return;
      seq = events[events.length - 1]!.seq;
      // A long replay waits for the client to read what it has been sent so far.
      if (client.response.writableLength > MAX_BUFFERED_BYTES / 2) await once(client.response, 'drain');
    }
  }

  /**
   * The events after the client's position are gone: it must refetch everything. It resumes
   * from `latest`; every event up to it committed before the client refetches, later ones
   * follow live.
   */
  private reset(client: Client, latest: number) {
    client.sentSeq = latest;
    this.write(client, `id: ${latest}\nevent: reset\ndata: ${JSON.stringify({ seq: latest, reason: 'the events after Last-Event-ID are no longer kept: refetch everything' })}\n\n`);
  }

  private dispatch(event: ChangeEvent) {
    for (const client of this.clients) {
      const { workspaceId, environmentId } = client.principal;
      if (event.workspaceId !== workspaceId) continue;
      if (event.environmentId !== null && event.environmentId !== environmentId) continue;
      if (this.endsStream(client, event)) continue;
      if (client.pending) client.pending.push(event);
      else this.send(client, event);
    }
  }

  /** A revoked key, or a deleted environment, ends the stream; a rotated key's end is noted. */
  private endsStream(client: Client, event: ChangeEvent): boolean {
    const revoked = event.type === 'api_key' && event.payload.id === client.principal.id && event.payload.revoked === true;
    const deleted = event.type === 'environment' && event.payload.deleted === true;
    if (revoked || deleted) {
      this.end(client);
      return true;
    }
    if (event.type === 'api_key' && event.payload.id === client.principal.id && typeof event.payload.expiresAt === 'string') {
      client.expiresAtMs = Date.parse(event.payload.expiresAt);
    }
    return false;
  }

  private end(client: Client) {
    this.clients.delete(client);
    client.response.end();
  }

  private send(client: Client, event: ChangeEvent) {
    if (event.seq <= client.sentSeq) return;
    // The node's feed missed pruned events (see ChangeFeed), so this client did too.
    if (event.type === 'reset') return this.reset(client, event.seq);
    client.sentSeq = event.seq;
    const streamed = client.principal.kind === 'secret' ? STREAMED : PUBLISHABLE_STREAMED;
    if (streamed.has(event.type)) this.write(client, frame(event, client.principal.kind));
  }

  private write(client: Client, text: string) {
    if (client.response.writableLength > MAX_BUFFERED_BYTES) {
      // A client this far behind is cut off; it resumes with Last-Event-ID when it reconnects.
      this.clients.delete(client);
      client.response.destroy();
      return;
    }
    client.response.write(text);
  }
}
