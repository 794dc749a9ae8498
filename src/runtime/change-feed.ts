// Follows the change_events table of the workspaces this node serves and hands each event, in
// order and once, to the node's listeners (delivery caches, SSE streams). A node learns of new
// events from its own commits at once, from other nodes through PostgreSQL NOTIFY, and from a
// periodic poll that also covers notifications lost while the listener reconnects. A node that
// fell so far behind that events it had not read were pruned hands its listeners a workspace-wide
// `reset` event first: whatever they hold of that workspace may be stale.
import type { FastifyBaseLogger } from 'fastify';
import { changesAfter, changeWindow, latestSeq, listenForChanges, type ChangeEvent, type ChangeListenerConnection } from '../store/changes.js';
import type { Store } from '../store/database.js';

export type ChangeListener = (event: ChangeEvent) => void;

export interface ChangeFeedOptions {
  /** PostgreSQL URL for LISTEN; absent on SQLite, where every change is made in this process. */
  listenUrl?: string;
  pollIntervalMs?: number;
  logger?: FastifyBaseLogger;
}

export class ChangeFeed {
  private readonly lastSeen = new Map<string, number>();
  private readonly catchingUp = new Map<string, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();
  private readonly listeners = new Set<ChangeListener>();
  private connection: ChangeListenerConnection | null = null;
  private poller: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly options: ChangeFeedOptions = {},
  ) {}

  async start(): Promise<void> {
    if (this.options.listenUrl) await this.connect(0);
    this.poller = setInterval(() => this.pokeAll(), this.options.pollIntervalMs ?? 2000);
    this.poller.unref();
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts following a workspace from its current sequence; returns that sequence. */
  async track(workspaceId: string): Promise<number> {
    const seen = this.lastSeen.get(workspaceId);
    if (seen !== undefined) return seen;
    const seq = await latestSeq(this.store.db, workspaceId);
    if (!this.lastSeen.has(workspaceId)) this.lastSeen.set(workspaceId, seq);
    return this.lastSeen.get(workspaceId)!;
  }

  /**
   * The workspace has new events: read and dispatch them, one reader per workspace at a time.
   * The promise resolves once every event committed before the call has been dispatched.
   */
  poke(workspaceId: string): Promise<void> {
    if (!this.lastSeen.has(workspaceId) || this.closed) return Promise.resolve();
    const queued = this.queued.get(workspaceId);
    if (queued) return queued;
    const running = this.catchingUp.get(workspaceId);
    if (!running) return this.run(workspaceId);
    // A read already under way may have started before this event committed: read once more after it.
    const next = running.then(() => {
      this.queued.delete(workspaceId);
      return this.run(workspaceId);
    });
    this.queued.set(workspaceId, next);
    return next;
  }

  /** Resolves when every catch-up started so far has finished (used by tests and shutdown). */
  async settled(): Promise<void> {
    while (this.catchingUp.size > 0 || this.queued.size > 0) await Promise.all([...this.catchingUp.values(), ...this.queued.values()]);
  }

  private run(workspaceId: string): Promise<void> {
    const run: Promise<void> = this.catchUp(workspaceId)
      .catch((error: unknown) => this.options.logger?.warn({ err: error, workspaceId }, 'change feed catch-up failed; the next poll retries'))
      .finally(() => {
        if (this.catchingUp.get(workspaceId) === run) this.catchingUp.delete(workspaceId);
      });
    this.catchingUp.set(workspaceId, run);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.connection?.close();
    await this.settled();
  }

  private pokeAll() {
    for (const workspaceId of this.lastSeen.keys()) void this.poke(workspaceId);
  }

  private async catchUp(workspaceId: string) {
    for (;;) {
      const after = this.lastSeen.get(workspaceId)!;
      const page = await changesAfter(this.store.db, workspaceId, after, { limit: 500 });
      const events = [...(await this.gapBefore(workspaceId, after, page)), ...page];
      for (const event of events) {
        this.lastSeen.set(workspaceId, event.seq);
        for (const listener of this.listeners) {
          try {
            listener(event);
          } catch (error) {
            this.options.logger?.error({ err: error }, 'change listener failed');
          }
        }
      }
      if (page.length < 500) return;
    }
  }

  /** A `reset` just before `page` when events after `after` were pruned before this node read them. */
  private async gapBefore(workspaceId: string, after: number, page: ChangeEvent[]): Promise<ChangeEvent[]> {
    const first = page[0];
    // Ids are consecutive: only a jump can hide pruned events, and only the window can tell.
    if (!first || first.seq === after + 1 || after >= (await changeWindow(this.store.db, workspaceId)).from) return [];
    return [{ workspaceId, seq: first.seq - 1, environmentId: null, type: 'reset', payload: {}, at: first.at }];
  }

  private async connect(attempt: number): Promise<void> {
    try {
      this.connection = await listenForChanges(
        this.options.listenUrl!,
        (workspaceId) => void this.poke(workspaceId),
        (error) => {
          this.connection = null;
          if (this.closed) return;
          this.options.logger?.warn({ err: error }, 'change listener lost; reconnecting');
          this.scheduleReconnect(0);
        },
      );
      // Whatever was notified while no listener was connected is read from the table now.
      this.pokeAll();
    } catch (error) {
      if (attempt === 0 && this.lastSeen.size === 0 && !this.reconnectTimer) throw error;
      this.options.logger?.warn({ err: error }, 'change listener cannot connect; retrying');
      this.scheduleReconnect(attempt + 1);
    }
  }

  private scheduleReconnect(attempt: number) {
    // One reconnect at a time: a second would leave two listener connections behind.
    if (this.closed || this.reconnectTimer) return;
    const delay = Math.min(5000, 100 * 2 ** attempt);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.connect(attempt + 1);
    }, delay);
    this.reconnectTimer.unref();
  }
}
