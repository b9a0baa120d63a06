import kafkajs, { type KafkaConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { Logger } from '@datamesh/core';
import { registerCompressionCodecs } from './compression-codecs.js';
import { fixKafkajsIdleTimer } from './idle-timer-fix.js';
import type { KafkaTransportOptions } from './kafka-options.js';

const { Kafka, logLevel } = kafkajs;

/**
 * kafkajs logs retriable conditions (a coordinator still loading, a rebalance) at error level, though they
 * are normal: everything that matters reaches callers as an error after the retries. So its output goes to
 * debug and trace, and operators get it with `log.level: debug`. Credentials never appear in its entries.
 */
function logCreatorFor(logger: Logger | undefined) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      if (!logger) return;
      const { message, ...fields } = log;
      const entry = { kafkajs: namespace, ...fields };
      if (level <= logLevel.WARN) logger.debug(entry, message);
      else logger.trace(entry, message);
    };
}

function saslConfig(options: KafkaTransportOptions): SASLOptions | undefined {
  const sasl = options.sasl;
  if (!sasl) return undefined;
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
}

/** A kafkajs client for the options; every producer, consumer and admin of a transport comes from it. */
export function createKafkaClient(options: KafkaTransportOptions): InstanceType<typeof Kafka> {
  fixKafkajsIdleTimer();
  registerCompressionCodecs();
  const tls = options.tls;
  const config: KafkaConfig = {
    brokers: [...options.brokers],
    clientId: options.clientId ?? 'datamesh',
    connectionTimeout: options.connectionTimeoutMs ?? 10_000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 300, maxRetryTime: 10_000 },
    logLevel: logLevel.DEBUG,
    logCreator: logCreatorFor(options.logger),
  };
  if (tls) {
    config.ssl = {
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      ...(tls.ca ? { ca: [...tls.ca] } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
    };
  }
  const sasl = saslConfig(options);
  if (sasl) config.sasl = sasl;
  return new Kafka(config);
}
