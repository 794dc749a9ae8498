// Read marks on in-app feeds, made with an environment API key: each mark and its activity
// entry in one transaction.
import { notFound } from '../domain/errors.js';
import { countUnread, findFeedMessage, markFeedMessageRead, markFeedRead, type FeedMessage } from '../store/feeds.js';
import { recordActivity } from './activity.js';
import type { Deps } from './context.js';
import { keyCallContext, type KeyCall } from './key-context.js';

/** What a feed reader sees of a message (the run and workflow stay server-side). */
export function feedView(message: FeedMessage) {
  return { id: message.id, recipient: message.recipient, content: message.content, createdAt: message.createdAt, readAt: message.readAt };
}

function scopeOf(call: KeyCall) {
  return { workspaceId: call.key.workspaceId, environmentId: call.key.environmentId };
}

/** Marks one message of a recipient read (a message already read keeps its time). */
export async function markMessageRead(deps: Deps, call: KeyCall, recipient: string, id: string) {
  return deps.store.transaction(async (tx) => {
    const { ctx, env } = await keyCallContext(deps, tx, call);
    const scope = scopeOf(call);
    await markFeedMessageRead(tx, scope, recipient, id, deps.now().toISOString());
    const message = await findFeedMessage(tx, scope, recipient, id);
    if (!message) throw notFound(`message ${id} in the feed of ${recipient}`);
    await recordActivity(deps, tx, ctx, env, { action: 'feed.read', target: `feed/${recipient}`, details: { recipient, messageId: id } });
    return feedView(message);
  });
}

/** Marks every unread message of a recipient read. */
export async function markAllRead(deps: Deps, call: KeyCall, recipient: string) {
  return deps.store.transaction(async (tx) => {
    const { ctx, env } = await keyCallContext(deps, tx, call);
    const scope = scopeOf(call);
    const updated = await markFeedRead(tx, scope, recipient, deps.now().toISOString());
    await recordActivity(deps, tx, ctx, env, { action: 'feed.read_all', target: `feed/${recipient}`, details: { recipient, updated } });
    return { updated, unread: await countUnread(tx, scope, recipient) };
  });
}
