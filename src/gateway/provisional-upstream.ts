// PROVISIONAL: a minimal upstream leg over node:http, standing in for h/gw-upstream's
// upstream.ts until it lands (removed then). Same interface (contract.ts UpstreamPool).
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Admit, ForwardOutcome, ForwardRequest, UpstreamPool, UpstreamTarget } from './contract.js';

export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export function parseUpstreamUrl(text: string): UpstreamTarget {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not an http(s) URL');
  if (url.search || url.hash || url.username || url.password) throw new Error('an upstream URL has no query, fragment or credentials');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const basePath = url.pathname.replace(/\/+$/, '');
  return { protocol: url.protocol, hostname, port, hostHeader: url.host, basePath };
}

function failure(kind: ForwardOutcome['failure'] extends infer F ? (F extends { kind: infer K } ? K : never) : never, message: string): ForwardOutcome {
  return { status: 0, failure: { kind, message }, headersSent: false };
}

export function createUpstreamPool(target: UpstreamTarget, options: { admit: Admit }): UpstreamPool {
  const https = target.protocol === 'https:';
  const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 256 }) : new Agent({ keepAlive: true, maxSockets: 256 });
  const send = https ? httpsRequest : httpRequest;

  function open(request: ForwardRequest, address: string) {
    const headers: string[] = ['host', target.hostHeader, ...request.headers];
    return send({
      agent,
      host: address,
      port: target.port,
      method: request.method,
      path: request.path,
      headers,
      setHost: false,
      ...(https && isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
    });
  }

  return {
    forward(request: ForwardRequest, res: ServerResponse, extraHeaders: string[] | null, done: (outcome: ForwardOutcome) => void) {
      let ended = false;
      const end = (outcome: ForwardOutcome) => {
        if (ended) return;
        ended = true;
        done(outcome);
      };
      options.admit(target.hostname, target.port).then(
        (address) => {
          const up = open(request, address);
          const timer = setTimeout(() => {
            up.destroy();
            end(failure('timeout', `no response within ${request.timeoutMs} ms`));
          }, request.timeoutMs);
          up.on('response', (upRes: IncomingMessage) => {
            clearTimeout(timer);
            const headers: string[] = [];
            const raw = upRes.rawHeaders;
            for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
            if (extraHeaders) headers.push(...extraHeaders);
            res.writeHead(upRes.statusCode ?? 502, headers);
            upRes.pipe(res);
            upRes.on('end', () => end({ status: upRes.statusCode ?? 0, failure: null, headersSent: true }));
            upRes.on('error', () => {
              res.destroy();
              end({ status: upRes.statusCode ?? 0, failure: { kind: 'unreachable', message: 'the upstream connection was reset' }, headersSent: true });
            });
            res.on('close', () => {
              if (!upRes.complete) upRes.destroy();
              end({ status: upRes.statusCode ?? 0, failure: null, headersSent: true });
            });
          });
          up.on('error', (error: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            if (res.headersSent) return;
            end(failure('unreachable', error.code === 'ECONNREFUSED' ? 'connection refused' : error.code === 'ECONNRESET' ? 'connection reset' : 'connection failed'));
          });
          const body = request.body;
          if (body === null) up.end();
          else if (Buffer.isBuffer(body)) up.end(body);
          else body.pipe(up);
        },
        (error: Error & { code?: string }) => end(failure(error.name === 'EgressDenied' ? 'egress_denied' : 'unreachable', error.name === 'EgressDenied' ? (error as unknown as { reason: string }).reason : 'host not found')),
      );
    },
    upgrade(request: ForwardRequest, client: Duplex, head: Buffer, done: (outcome: ForwardOutcome) => void) {
      options.admit(target.hostname, target.port).then(
        (address) => {
          const up = open(request, address);
          up.on('upgrade', (upRes: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
            let text = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\n`;
            const raw = upRes.rawHeaders;
            for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
            client.write(text + '\r\n');
            if (upHead.length) client.write(upHead);
            if (head.length) upSocket.write(head);
            upSocket.pipe(client).pipe(upSocket);
            const close = () => {
              upSocket.destroy();
              client.destroy();
            };
            upSocket.on('error', close);
            client.on('error', close);
            upSocket.on('close', () => {
              close();
              done({ status: 101, failure: null, headersSent: true });
            });
          });
          up.on('response', (upRes: IncomingMessage) => {
            let text = `HTTP/1.1 ${upRes.statusCode} ${upRes.statusMessage}\r\nconnection: close\r\n\r\n`;
            client.end(text);
            upRes.resume();
            done({ status: upRes.statusCode ?? 0, failure: null, headersSent: true });
          });
          up.on('error', () => done(failure('unreachable', 'connection failed')));
          up.end();
        },
        () => done(failure('egress_denied', 'refused')),
      );
    },
    async close() {
      agent.destroy();
    },
  };
}
