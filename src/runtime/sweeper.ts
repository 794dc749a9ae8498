// A task a node runs on a timer (expired branches, data past retention): started once, never
// overlapping itself, its failures logged rather than thrown, and awaited on close.
import type { FastifyBaseLogger } from 'fastify';

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    /** What one sweep does. */
    private readonly task: () => Promise<void>,
    /** How often it runs; 0 or less never starts it (sweep() still runs it on demand). */
    private readonly intervalMs: number,
    /** Names the sweep in its error log line, e.g. "branch sweep". */
    private readonly name: string,
    private readonly logger?: FastifyBaseLogger,
  ) {}

  start() {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
    void this.sweep();
  }

  /** One sweep; a sweep still running is joined, not doubled. */
  sweep(): Promise<void> {
    this.running ??= this.task()
      .catch((error: unknown) => this.logger?.error({ err: error }, `${this.name} failed`))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
