import { readFile } from 'node:fs/promises';
import type { Logger, NodeConfig, Transport } from '@datamesh/core';
import { KafkaTransport, type KafkaTransportOptions } from '@datamesh/transport-kafka';
import { openEmbeddedLog } from './embedded-log.js';

/** Raised when a file named by the transport settings cannot be read. */
export class TransportConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportConfigError';
  }
}

/** Opens the transport the node config names: the embedded log in dataDir, or a Kafka cluster. */
export async function openTransport(config: NodeConfig, logger: Logger): Promise<Transport> {
  const { transport } = config;
  if (transport.kind === 'embedded') return openEmbeddedLog(config.dataDir, { fsync: transport.fsync });
  const kafka = transport.kafka;
  if (!kafka) throw new TransportConfigError('transport kind "kafka" needs a `kafka` section with `brokers`');
  const options: { -readonly [K in keyof KafkaTransportOptions]: KafkaTransportOptions[K] } = {
    brokers: kafka.brokers,
    clientId: kafka.clientId,
    compression: kafka.compression,
    lingerMs: kafka.lingerMs,
    connectionTimeoutMs: kafka.connectionTimeoutMs,
    retries: kafka.retries,
    sessionTimeoutMs: kafka.sessionTimeoutMs,
    logger: logger.child({ component: 'kafka' }),
  };
  if (kafka.replicationFactor !== undefined) options.replicationFactor = kafka.replicationFactor;
  if (kafka.sasl) options.sasl = kafka.sasl;
  if (kafka.tls) {
    const { caFile, certFile, keyFile, rejectUnauthorized } = kafka.tls;
    options.tls = {
      rejectUnauthorized,
      ...(caFile ? { ca: [await readPem(caFile, 'transport.kafka.tls.caFile')] } : {}),
      ...(certFile ? { cert: await readPem(certFile, 'transport.kafka.tls.certFile') } : {}),
      ...(keyFile ? { key: await readPem(keyFile, 'transport.kafka.tls.keyFile') } : {}),
    };
  }
  return KafkaTransport.connect(options);
}

async function readPem(file: string, setting: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new TransportConfigError(`cannot read ${setting} ${file}: ${(error as Error).message}`);
  }
}
