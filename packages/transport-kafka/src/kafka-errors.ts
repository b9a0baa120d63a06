import type { KafkaTransportOptions } from './kafka-options.js';

/** A failure to reach or authenticate with the cluster, with a message that says what to check. */
export class KafkaTransportError extends Error {
  constructor(message: string, cause: Error) {
    super(message, { cause });
    this.name = 'KafkaTransportError';
  }
}

/**
 * Turns kafkajs's low-level failures into errors that say what is wrong and what to do. The original error is
 * kept as `cause`; credentials never appear in the message.
 */
export function explainKafkaError(error: unknown, options: KafkaTransportOptions): Error {
  const err = error instanceof Error ? error : new Error(String(error));
  const text = `${err.name} ${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`;
  const brokers = options.brokers.join(', ');
  if (/SASL|[Aa]uthentication/.test(text)) {
    return new KafkaTransportError(
      `Kafka refused the credentials of user "${options.sasl?.username ?? '(none)'}" (${options.sasl?.mechanism ?? 'no SASL'}) at ${brokers}: check transport.kafka.sasl (username, password, mechanism)`,
      err,
    );
  }
  if (/certificate|SSL|TLS|self[- ]signed|EPROTO/i.test(text)) {
    return new KafkaTransportError(
      `TLS handshake with Kafka at ${brokers} failed (${err.message}): check transport.kafka.tls (the CA that signed the broker's certificate) and that the port is the broker's TLS listener`,
      err,
    );
  }
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|Connection timeout|connect|Closed connection/i.test(text)) {
    return new KafkaTransportError(
      `cannot reach Kafka at ${brokers} (${err.message}); retried with backoff ${options.retries ?? 5} times: check transport.kafka.brokers and that the brokers are up`,
      err,
    );
  }
  return err;
}
