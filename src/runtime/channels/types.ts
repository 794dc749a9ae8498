// What a channel receives (a message already rendered from a workflow step's templates) and what
// it answers: a delivery result, or a ChannelError that says whether a retry may succeed.
import type { Json } from '../../domain/canonical.js';

export const CHANNELS = ['email', 'webhook', 'in_app'] as const;
export type ChannelName = (typeof CHANNELS)[number];

export interface EmailMessage {
  /** One address, optionally as "Name <address>". */
  to: string;
  subject: string;
  html?: string;
  text?: string;
  /** The one-click unsubscribe link (RFC 8058): sent as List-Unsubscribe with List-Unsubscribe-Post. */
  unsubscribeUrl?: string;
}

export interface WebhookMessage {
  /** Sent as the JSON body. */
  payload: Json;
  /** The step's own headers, added after the setting's (the signature headers always win). */
  headers?: Record<string, string>;
}

export interface InAppMessage {
  /** Whose feed receives the message. */
  recipient: string;
  title?: string;
  body: string;
  data?: Record<string, Json>;
  actionUrl?: string;
}

export interface RenderedMessages {
  email: EmailMessage;
  webhook: WebhookMessage;
  in_app: InAppMessage;
}
export type RenderedMessage = RenderedMessages[ChannelName];

export interface SendOptions {
  /**
   * Identifies this delivery across retries: the email Message-ID, the webhook's
   * `x-stageline-delivery` header and the feed message's id derive from it, so a retried
   * delivery can be recognised as the same one.
   */
  deliveryId: string;
  /** Recorded with in-app messages. */
  runId?: string;
  workflow?: string;
}

export interface DeliveryResult {
  channel: ChannelName;
  /** The SMTP Message-ID, the webhook delivery id, or the feed message id. */
  messageId: string;
  /** A short human-readable account of what the far side answered. */
  detail: string;
}

/**
 * A delivery that did not happen. `transient` is true where the same call may succeed later
 * (connection refused or reset, timeouts, HTTP 5xx and 429, SMTP 4xx replies) and false where
 * only a change of configuration or message can help (HTTP 4xx, SMTP 5xx, a missing setting or
 * secret, a disabled channel, an invalid message). Messages never contain secret values.
 */
export class ChannelError extends Error {
  constructor(
    readonly channel: ChannelName,
    readonly code: string,
    message: string,
    readonly transient: boolean,
    readonly details: { status?: number; response?: string; setting?: string; secret?: string; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}
