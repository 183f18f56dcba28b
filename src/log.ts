// The one pino logger. Job-scoped loggers are children: log.child({ jobId }).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.CELLBLOCK_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: ['spec.env', 'env', '*.password', 'password', 'redisUrl'], censor: '[redacted]' },
  }, pino.destination(2));
}

/** A logger that drops everything: for library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
