// The delivery channels a workflow's channel steps use: one entry point that sends a rendered
// message through email, webhook or the in-app feed of an environment, and closes what they hold.
import type { Environment } from '../../domain/environments/chain.js';
import type { Deps } from '../../services/context.js';
import { EmailChannel } from './email.js';
import { deliverInApp } from './in-app.js';
import { ChannelError, type ChannelName, type DeliveryResult, type RenderedMessages, type SendOptions } from './types.js';
import { WebhookChannel } from './webhook.js';

export * from './types.js';
export { verifyWebhookSignature, signWebhook } from './webhook.js';

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;

export class Channels {
  private readonly email = new EmailChannel();
  private readonly webhook = new WebhookChannel();

  /**
   * Sends one message. Fails with a ChannelError (see `transient`) when the far side or the
   * environment's configuration refuses it; any other error is an internal failure.
   */
  async send<C extends ChannelName>(deps: Deps, env: Environment, channel: C, message: RenderedMessages[C], options: SendOptions): Promise<DeliveryResult> {
    if (!DELIVERY_ID.test(options.deliveryId)) {
      throw new ChannelError(channel, 'invalid_message', 'deliveryId: must be 1-200 letters, digits, dots, colons, underscores or hyphens', false);
    }
    switch (channel) {
      case 'email':
        return this.email.send(deps, env, message as RenderedMessages['email'], options);
      case 'webhook':
        return this.webhook.send(deps, env, message as RenderedMessages['webhook'], options);
      case 'in_app':
        return deliverInApp(deps, env, message as RenderedMessages['in_app'], options);
      default:
        throw new ChannelError(channel, 'invalid_message', `unknown channel ${String(channel)}`, false);
    }
  }

  async close(): Promise<void> {
    this.email.close();
  }
}
