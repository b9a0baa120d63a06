import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger };

/** Field names whose values never reach a log line, at any of the first levels of nesting. */
const SECRET_KEYS = [
  'password',
  'passwd',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'privateKey',
  'sasl',
  'credentials',
];
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]);

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Where JSON lines go; defaults to stdout. */
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
}

/** The node's root logger: structured JSON (pino), secrets redacted. Plugins get children of it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? { component: 'datamesh' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
