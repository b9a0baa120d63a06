import { readFile } from 'node:fs/promises';
import type { Logger } from '@datamesh/core';
import { KafkaTransport, type KafkaTransportOptions } from '@datamesh/transport-kafka';
import type { ClusterConfig } from './sink-config.js';
import type { SinkPrincipal } from './kafka-permissions.js';

/** The transport options for `cluster`, as the node maps its own `transport.kafka` section (PEM files read here). */
export async function clusterOptions(cluster: ClusterConfig, logger: Logger): Promise<KafkaTransportOptions> {
  const options: { -readonly [K in keyof KafkaTransportOptions]: KafkaTransportOptions[K] } = {
    brokers: cluster.brokers,
    clientId: cluster.clientId,
    logger: logger.child({ component: 'kafka' }),
  };
  if (cluster.replicationFactor !== undefined) options.replicationFactor = cluster.replicationFactor;
  if (cluster.sasl) options.sasl = cluster.sasl;
  if (cluster.tls) {
    const { caFile, certFile, keyFile, rejectUnauthorized } = cluster.tls;
    options.tls = {
      rejectUnauthorized,
      ...(caFile ? { ca: [await readPem(caFile, 'cluster.tls.caFile')] } : {}),
      ...(certFile ? { cert: await readPem(certFile, 'cluster.tls.certFile') } : {}),
      ...(keyFile ? { key: await readPem(keyFile, 'cluster.tls.keyFile') } : {}),
    };
  }
  return options;
}

/** Connects to the sink's own cluster; its errors name the sink's settings, not the node's. */
export async function connectCluster(options: KafkaTransportOptions): Promise<KafkaTransport> {
  try {
    return await KafkaTransport.connect(options);
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    // The transport's explanations point at the node's settings (`transport.kafka.sasl`); here they are `cluster.*`.
    throw new Error(
      `cannot connect to the sink's cluster: ${error.message.replace(/transport\.kafka\./g, 'cluster.')}`,
      {
        cause: error,
      },
    );
  }
}

/** Who the sink is on `cluster` (or on the node's transport), for error messages; never a secret. */
export function principalOf(cluster: ClusterConfig | undefined): SinkPrincipal {
  if (!cluster) return { who: "this node's Kafka principal", where: '' };
  const where = `at ${cluster.brokers.join(', ')}`;
  if (cluster.sasl) return { who: `the Kafka user "${cluster.sasl.username}"`, where };
  if (cluster.tls?.certFile) return { who: 'the Kafka principal of the client certificate', where };
  return { who: 'the anonymous Kafka principal (no SASL, no client certificate)', where };
}

async function readPem(file: string, setting: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${setting} ${file}: ${(error as Error).message}`, { cause: error });
  }
}
