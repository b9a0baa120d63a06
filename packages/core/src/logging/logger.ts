import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Fields whose values never reach a log line, in any spelling: a key is compared lower-cased and without `_` or
 * `-`, so `apiKey`, `ApiKey`, `APIKEY`, `api_key`, `API_KEY` and `api-key` are all `apikey`.
 */
const SECRET_FIELDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'secret',
  'clientsecret',
  'token',
  'accesstoken',
  'refreshtoken',
  'sessiontoken',
  'apikey',
  'privatekey',
  'secretkey',
  'accesskey',
  'secretaccesskey',
  'encryptionkey',
  'signingkey',
  'hmackey',
  'salt',
  'sasl',
  'credentials',
]);
/** A bare `key` is usually an event's key; it is a secret only in TLS settings (Node's `tls` options). */
const SECRET_KEY_PARENTS = new Set(['tls', 'ssl']);
const CENSOR = '[redacted]';
/** How deep into a logged object secrets are looked for. */
const MAX_DEPTH = 6;

const normalise = (key: string) => key.toLowerCase().replace(/[-_]/g, '');

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** A class instance logged as its own fields (as JSON.stringify would), not a Buffer, Date, Map or the like. */
function isPlainData(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON !== 'function' &&
    !(value instanceof Map || value instanceof Set || ArrayBuffer.isView(value))
  );
}

/**
 * A copy of `value` with secret fields censored, copying only the objects on the way to one; everything else
 * (and the value itself when it holds no secret) is returned as it is. Errors anywhere are serialized (and
 * censored); class instances are entered like plain objects, and copied as plain ones when censored.
 */
function censorSecrets<T>(value: T, depth = 0, parent = ''): T {
  if (depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const censored = censorSecrets(item, depth + 1, parent);
      if (censored !== item) (copy ??= [...(value as unknown[])])[i] = censored;
    });
    return (copy as T | undefined) ?? value;
  }
  if (value instanceof Error) return serializeError(value) as T;
  if (!isPlainObject(value) && !isPlainData(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const name = normalise(key);
    const censored =
      item !== undefined && (SECRET_FIELDS.has(name) || (name === 'key' && SECRET_KEY_PARENTS.has(parent)))
        ? CENSOR
        : censorSecrets(item, depth + 1, name);
    if (censored !== item) (copy ??= { ...value })[key] = censored;
  }
  return (copy as T | undefined) ?? value;
}

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Where JSON lines go; defaults to stdout. */
  readonly destination?: DestinationStream;
  readonly base?: Record<string, unknown>;
}

/** pino's error serializer (type, message, stack, cause, own fields), secrets censored. */
function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown;
  // Its result has a prototype of its own; a plain copy is entered by censorSecrets. A non-error stays as it is.
  return typeof serialized === 'object' && serialized !== null
    ? censorSecrets({ ...serialized })
    : serialized;
}

/** The node's root logger: structured JSON (pino), secrets redacted. Plugins get children of it. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: censorSecrets(options.base ?? { component: 'datamesh' }),
      // Not pino's `redact`: its paths are exact (one per spelling and depth), and hundreds of wildcard paths
      // cost about a millisecond per line.
      formatters: { level: (label) => ({ level: label }), log: (object) => censorSecrets(object) },
      serializers: { err: serializeError },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
  // Children (and theirs: they inherit from this instance) censor their bindings too.
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return pinoChild.call(this, censorSecrets(bindings), childOptions);
  } as Logger['child'];
  return logger;
}
