import type { Logger } from '@datamesh/core';

export type Compression = 'none' | 'gzip' | 'lz4' | 'zstd';

export interface SaslOptions {
  readonly mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain';
  readonly username: string;
  readonly password: string;
}

export interface TlsOptions {
  /** PEM certificates of the CAs to trust; the system's CAs when absent. */
  readonly ca?: readonly string[];
  /** PEM client certificate and key, for brokers that require client authentication. */
  readonly cert?: string;
  readonly key?: string;
  /** Default true. Turning it off accepts any certificate: for local tests only. */
  readonly rejectUnauthorized?: boolean;
}

export interface KafkaTransportOptions {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly tls?: TlsOptions;
  readonly sasl?: SaslOptions;
  /** Replicas of the topics the transport creates; the broker's default.replication.factor when absent. */
  readonly replicationFactor?: number;
  readonly compression?: Compression;
  /** How long concurrent sends wait to share a request (ms). Default 0: only sends that overlap share. */
  readonly lingerMs?: number;
  /** Records per produce request at most. Default 10 000. */
  readonly maxBatchRecords?: number;
  /** Connecting to the first broker gives up after this long (ms). Default 10 000. */
  readonly connectionTimeoutMs?: number;
  /** Retries of a failed request, with exponential backoff, before the error reaches the caller. Default 5. */
  readonly retries?: number;
  /** Default 30 000 (ms); a member silent for longer leaves its group. */
  readonly sessionTimeoutMs?: number;
  /** Default 60 000 (ms); an open transaction older than this is aborted by the broker. */
  readonly transactionTimeoutMs?: number;
  readonly logger?: Logger;
}
