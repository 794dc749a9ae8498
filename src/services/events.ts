// Outbound events (promotions, rollbacks, requests, gates, holds, kill switches, alerts): written
// to an outbox in the caller's transaction, delivered to the workspace's event subscriptions
// as signed Standard Webhooks. The outbox and its delivery arrive with event subscriptions;
// until then an event is dropped here, and callers already name every event they make.
import type { OutboundEvent } from '../metrics/contract.js';
import type { Db } from '../store/database.js';
import type { CallContext, Deps } from './context.js';

export async function emitEvent(_deps: Deps, _tx: Db, _ctx: CallContext, _event: OutboundEvent): Promise<void> {}
