// The email channel: SMTP through nodemailer with the environment's `channel.email` setting and
// the password secret of that environment. One pooled transport per environment, replaced when
// the setting, the password or the egress policy changes; it connects only through the policy.
import { createTransport } from 'nodemailer';
import type { z } from 'zod';
import { canonicalJson, sha256 } from '../../domain/canonical.js';
import { EgressDenied } from '../../domain/egress/policy.js';
import type { Environment } from '../../domain/environments/chain.js';
import type { KNOWN_SETTINGS } from '../../domain/settings/settings.js';
import type { Deps, Egress, EgressFor } from '../../services/context.js';
import { channelSecret, requiredChannelSetting } from './settings.js';
import { ChannelError, type DeliveryResult, type EmailMessage, type SendOptions } from './types.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const EMAIL_ADDRESS = /^(?:[^<>\r\n]*<)?[^\s@<>]+@[^\s@<>]+(?:>)?$/;

type EmailSetting = z.infer<(typeof KNOWN_SETTINGS)['channel.email']>;
type Transport = ReturnType<typeof createPooledTransport>;

interface CachedTransport {
  hash: string;
  transport: Transport;
  inflight: number;
  retired: boolean;
}

interface TransportOptions {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  pass?: string;
  timeoutMs: number;
  egress: Egress;
  policy: EgressFor;
}

function createPooledTransport(options: TransportOptions) {
  const transport = createTransport({
    pool: true,
    maxConnections: 2,
    maxMessages: 100,
    // A connection lost mid-send fails the send: the workflow's retry policy (backoff, attempts,
    // the step log) decides what happens next, not a requeue inside the pool the log never sees.
    maxRequeues: 0,
    host: options.host,
    port: options.port,
    secure: options.secure,
    ...(options.user !== undefined ? { auth: { user: options.user, pass: options.pass ?? '' } } : {}),
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: options.timeoutMs,
    // Rendered content never makes the mailer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    // nodemailer would resolve and connect by itself; every connection is opened through the
    // egress policy instead, to the address it checked. TLS (465, or STARTTLS) runs over that
    // socket and verifies the certificate against the configured host name.
    getSocket: (_options: unknown, callback: (error: Error | null, socket?: { connection: unknown }) => void) => {
      options.egress.socket(options.policy, options.host, options.port, options.timeoutMs).then(
        (connection) => callback(null, { connection }),
        (error: Error) => callback(error),
      );
    },
  } as Parameters<typeof createTransport>[0]);
  // Each send reports its own failure; an error event with no listener would end the process.
  transport.on('error', () => {});
  return transport;
}

/** The domain of "Name <user@domain>" or "user@domain". */
function domainOf(address: string): string {
  return /@([^\s@<>]+)>?\s*$/.exec(address)?.[1] ?? 'stageline.invalid';
}

/**
 * Network failures, timeouts and SMTP 4xx replies may pass later; SMTP 5xx replies (but 503, a
 * session out of step), failed authentication and TLS failures need a change of configuration.
 */
export function emailError(error: unknown, env: Environment): ChannelError {
  if (error instanceof ChannelError) return error;
  if (error instanceof EgressDenied) return new ChannelError('email', 'egress_denied', `the SMTP server of ${env.slug}: ${error.message}`, false);
  const e = error as { code?: string; responseCode?: number; message?: string };
  const reason = e.message ?? String(error);
  if (typeof e.responseCode === 'number') {
    const transient = e.responseCode < 500 || e.responseCode === 503;
    const code = e.code === 'EAUTH' ? 'auth_failed' : transient ? 'smtp_deferred' : 'smtp_rejected';
    return new ChannelError('email', code, `the SMTP server of ${env.slug} answered ${e.responseCode}: ${reason}`, transient, { status: e.responseCode });
  }
  switch (e.code) {
    case 'ETIMEDOUT':
      return new ChannelError('email', 'timeout', `the SMTP server of ${env.slug} did not answer in time: ${reason}`, true);
    case 'ECONNECTION':
    case 'ESOCKET':
    // Raised by the connection the egress policy opens (before nodemailer names it).
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EDNS':
    case 'EPROTOCOL':
    case 'EMAXLIMIT':
      return new ChannelError('email', 'unavailable', `the SMTP server of ${env.slug} could not be reached: ${reason}`, true);
    case 'EAUTH':
    case 'ENOAUTH':
      return new ChannelError('email', 'auth_failed', `the SMTP server of ${env.slug} refused the credentials: ${reason}`, false);
    case 'ETLS':
    case 'EREQUIRETLS':
      return new ChannelError('email', 'tls_failed', `TLS with the SMTP server of ${env.slug} failed: ${reason}`, false);
    default:
      return new ChannelError('email', 'send_failed', `the email could not be sent: ${reason}`, false);
  }
}

export class EmailChannel {
  private readonly transports = new Map<string, CachedTransport>();

  async send(deps: Deps, env: Environment, message: EmailMessage, options: SendOptions): Promise<DeliveryResult> {
    if (!EMAIL_ADDRESS.test(message.to)) throw new ChannelError('email', 'invalid_message', 'to: must be an email address, optionally as "Name <address>"', false);
    if (message.html === undefined && message.text === undefined) throw new ChannelError('email', 'invalid_message', 'an email needs html or text', false);
    const setting = await requiredChannelSetting(deps, env, 'email');
    const password = setting.auth ? await channelSecret(deps, env, 'email', setting.auth.passwordSecret) : undefined;
    const cached = this.transportFor(env, setting, password, deps.egress, await deps.egress.policy(env));
    cached.inflight += 1;
    try {
      const info = await cached.transport.sendMail({
        from: setting.from,
        ...(setting.replyTo ? { replyTo: setting.replyTo } : {}),
        to: message.to,
        subject: message.subject,
        ...(message.html !== undefined ? { html: message.html } : {}),
        ...(message.text !== undefined ? { text: message.text } : {}),
        // RFC 8058: mailbox providers POST `List-Unsubscribe=One-Click` to the link, no login;
        // one-click is for HTTPS links only (an http link, STAGELINE_PUBLIC_URL unset, is a plain one).
        ...(message.unsubscribeUrl !== undefined
          ? {
              headers: {
                'List-Unsubscribe': `<${message.unsubscribeUrl}>`,
                ...(message.unsubscribeUrl.startsWith('https://') ? { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {}),
              },
            }
          : {}),
        // The same delivery keeps the same Message-ID across retries, so receivers can dedupe.
        messageId: `<${options.deliveryId}@${domainOf(setting.from)}>`,
      });
      return { channel: 'email', messageId: info.messageId, detail: info.response };
    } catch (error) {
      throw emailError(error, env);
    } finally {
      cached.inflight -= 1;
      if (cached.retired && cached.inflight === 0) cached.transport.close();
    }
  }

  /** Closes every transport; a later send opens new ones. */
  close(): void {
    for (const cached of this.transports.values()) cached.transport.close();
    this.transports.clear();
  }

  private transportFor(env: Environment, setting: EmailSetting, password: string | undefined, egress: Egress, policy: EgressFor): CachedTransport {
    // The password is part of the hash so that rotating the secret replaces the transport, and
    // the policy so that no connection opened under an earlier policy is reused.
    const hash = sha256(canonicalJson({ setting, password: password ?? null, egress: policy.key }));
    const current = this.transports.get(env.id);
    if (current?.hash === hash) return current;
    if (current) {
      current.retired = true;
      if (current.inflight === 0) current.transport.close();
    }
    const created: CachedTransport = {
      hash,
      transport: createPooledTransport({
        host: setting.host,
        port: setting.port,
        // Port 465 speaks TLS from the first byte; other ports upgrade with STARTTLS when offered.
        secure: setting.secure ?? setting.port === 465,
        ...(setting.auth ? { user: setting.auth.user, pass: password ?? '' } : {}),
        timeoutMs: setting.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        egress,
        policy,
      }),
      inflight: 0,
      retired: false,
    };
    this.transports.set(env.id, created);
    return created;
  }
}
