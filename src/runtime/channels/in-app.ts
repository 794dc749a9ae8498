// The in-app channel and the feeds it fills: a message is stored in the feed of one recipient
// of one environment; the feed API lists it, counts what is unread and marks it read.
import { sha256 } from '../../domain/canonical.js';
import type { Environment } from '../../domain/environments/chain.js';
import { invalid, notFound } from '../../domain/errors.js';
import { isRecipientId, RECIPIENT_ID_RULE } from '../../domain/workflows/runs.js';
import type { Deps } from '../../services/context.js';
import { countUnread, findFeedMessage, insertFeedMessage, listFeedMessages, markFeedMessageRead, markFeedRead, type FeedMessage, type FeedPosition } from '../../store/feeds.js';
import { channelSetting } from './settings.js';
import { ChannelError, type DeliveryResult, type InAppMessage, type SendOptions } from './types.js';

type Scope = { workspaceId: string; environmentId: string };

export async function deliverInApp(deps: Deps, env: Environment, message: InAppMessage, options: SendOptions): Promise<DeliveryResult> {
  const setting = await channelSetting(deps, env, 'in_app');
  if (setting?.enabled === false) {
    throw new ChannelError('in_app', 'channel_disabled', `the in-app channel is disabled in ${env.slug} (channel.in_app.enabled is false)`, false, { setting: 'channel.in_app' });
  }
  if (!isRecipientId(message.recipient)) throw new ChannelError('in_app', 'invalid_message', `recipient: must be ${RECIPIENT_ID_RULE}`, false);
  // The id derives from the delivery, so a retried delivery stores the message once.
  const id = `msg_${sha256(`${env.id}\n${options.deliveryId}`).slice(0, 32)}`;
  const content = {
    ...(message.title !== undefined ? { title: message.title } : {}),
    body: message.body,
    ...(message.actionUrl !== undefined ? { actionUrl: message.actionUrl } : {}),
    ...(message.data !== undefined ? { data: message.data } : {}),
  };
  const stored = await insertFeedMessage(deps.store.db, { workspaceId: env.workspaceId, environmentId: env.id }, {
    id,
    recipient: message.recipient,
    runId: options.runId ?? null,
    workflow: options.workflow ?? null,
    content,
    createdAt: deps.now().toISOString(),
  });
  return { channel: 'in_app', messageId: id, detail: stored ? `stored in the feed of ${message.recipient}` : `already in the feed of ${message.recipient}` };
}

/** What a feed reader sees of a message (the run and workflow stay server-side). */
export function feedView(message: FeedMessage) {
  return { id: message.id, recipient: message.recipient, content: message.content, createdAt: message.createdAt, readAt: message.readAt };
}

function encodeCursor(position: FeedPosition): string {
  return Buffer.from(`${position.createdAt}|${position.id}`).toString('base64url');
}

function decodeCursor(cursor: string): FeedPosition {
  const [createdAt, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || !createdAt || !id || !/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(createdAt) || !/^msg_[0-9a-f]{1,64}$/.test(id)) {
    throw invalid([{ field: 'cursor', message: 'is not a cursor returned by this feed', in: 'query' }]);
  }
  return { createdAt, id };
}

/** One page of a recipient's feed, newest first, with the number of unread messages in all of it. */
export async function readFeed(deps: Deps, scope: Scope, recipient: string, query: { limit: number; cursor?: string; unread?: boolean }) {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const rows = await listFeedMessages(deps.store.db, scope, recipient, {
    limit: query.limit + 1,
    ...(after ? { after } : {}),
    ...(query.unread !== undefined ? { unread: query.unread } : {}),
  });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(feedView),
    next: rows.length > query.limit && last ? encodeCursor(last) : null,
    unread: await countUnread(deps.store.db, scope, recipient),
  };
}

export async function markMessageRead(deps: Deps, scope: Scope, recipient: string, id: string) {
  await markFeedMessageRead(deps.store.db, scope, recipient, id, deps.now().toISOString());
  const message = await findFeedMessage(deps.store.db, scope, recipient, id);
  if (!message) throw notFound(`message ${id} in the feed of ${recipient}`);
  return feedView(message);
}

export async function markAllRead(deps: Deps, scope: Scope, recipient: string) {
  const updated = await markFeedRead(deps.store.db, scope, recipient, deps.now().toISOString());
  return { updated, unread: await countUnread(deps.store.db, scope, recipient) };
}
