// The in-app channel and the feeds it fills: a message is stored in the feed of one recipient
// of one environment; the feed API lists it, counts what is unread and marks it read.
import { sha256 } from '../../domain/canonical.js';
import type { Environment } from '../../domain/environments/chain.js';
import { z } from 'zod';
import { decodeCursor, encodeCursor, TIME_POSITION } from '../../domain/cursor.js';
import { invalid, notFound } from '../../domain/errors.js';
import { isRecipientId, RECIPIENT_ID_RULE } from '../../domain/workflows/runs.js';
import type { Deps } from '../../services/context.js';
import { feedView } from '../../services/feeds.js';
import { countUnread, insertFeedMessage, listFeedMessages, type FeedPosition } from '../../store/feeds.js';
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

const FEED_POSITION = TIME_POSITION.extend({ id: z.string().regex(/^msg_[0-9a-f]{1,64}$/) });

/** One page of a recipient's feed, newest first, with the number of unread messages in all of it. */
export async function readFeed(deps: Deps, scope: Scope, recipient: string, query: { limit: number; cursor?: string; unread?: boolean }) {
  const position = decodeCursor(query.cursor, FEED_POSITION);
  const after: FeedPosition | undefined = position ? { createdAt: position.at, id: position.id } : undefined;
  const rows = await listFeedMessages(deps.store.db, scope, recipient, {
    limit: query.limit + 1,
    ...(after ? { after } : {}),
    ...(query.unread !== undefined ? { unread: query.unread } : {}),
  });
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    data: page.map(feedView),
    next: rows.length > query.limit && last ? encodeCursor({ at: last.createdAt, id: last.id }) : null,
    unread: await countUnread(deps.store.db, scope, recipient),
  };
}
