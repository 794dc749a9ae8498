// Server-sent event streams of environment changes. Each stream first replays what its client
// missed (from the change table, after its Last-Event-ID) and then follows the live feed, with
// heartbeats; a client that cannot keep up is disconnected rather than buffered without bound
// (it reconnects and resumes from its last event).
import type { ServerResponse } from 'node:http';
import type { KeyPrincipal } from '../services/api-keys.js';
import type { Deps } from '../services/context.js';
import { environmentChangesAfter } from '../services/delivery.js';
import type { ChangeEvent } from '../store/changes.js';
import type { ChangeFeed } from './change-feed.js';

/** Change types a runtime client is told about. */
const STREAMED = new Set(['release', 'override', 'active', 'variable', 'secret', 'setting', 'environment']);
export const MAX_BUFFERED_BYTES = 256 * 1024;

interface Client {
  principal: KeyPrincipal;
  response: ServerResponse;
  /** Live events that arrive while the replay is still being written. */
  pending: ChangeEvent[] | null;
  sentSeq: number;
}

export interface StreamOptions {
  heartbeatMs?: number;
}

function frame(event: ChangeEvent): string {
  const data = { seq: event.seq, type: event.type, at: event.at, ...event.payload };
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
      for (const client of this.clients) this.write(client, ': ping\n\n');
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
    const client: Client = { principal, response, pending: [], sentSeq: lastEventId ?? Number.MAX_SAFE_INTEGER };
    this.clients.add(client);
    response.on('close', () => this.clients.delete(client));
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
      for (const event of events) this.send(client, event);
      if (events.length < 500 || !this.clients.has(client)) return;
      seq = events[events.length - 1]!.seq;
    }
  }

  private dispatch(event: ChangeEvent) {
    for (const client of this.clients) {
      const { workspaceId, environmentId } = client.principal;
      if (event.workspaceId !== workspaceId) continue;
      if (event.environmentId !== null && event.environmentId !== environmentId) continue;
      if (client.pending) client.pending.push(event);
      else this.send(client, event);
    }
  }

  private send(client: Client, event: ChangeEvent) {
    if (event.seq <= client.sentSeq) return;
    client.sentSeq = event.seq;
    if (STREAMED.has(event.type)) this.write(client, frame(event));
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
