// The node's logger: pino with the request headers that carry credentials redacted. The main
// process and each gateway worker build theirs here (a worker must not load the API to get it).
import pino, { type DestinationStream, type Logger } from 'pino';

export const LOG_REDACT = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-stageline-key"]'];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: LOG_REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
