import type {
  Consumer,
  ConsumerOptions,
  Producer,
  TopicConfig,
  Transport,
  TransactionalProducer,
} from '@datamesh/core';
import kafkajs, { type Admin, type IResourceConfigEntry, type Kafka } from 'kafkajs';
import { createKafkaClient } from './kafka-client.js';
import { copartitionedAssigner } from './copartitioned-assigner.js';
import { exclusiveAssigner } from './exclusive-assigner.js';
import { KafkaConsumer } from './kafka-consumer.js';
import type { KafkaTransportOptions } from './kafka-options.js';
import { KafkaProducer } from './kafka-producer.js';
import { TopicMetadata, isUnknownTopic } from './topic-metadata.js';
import { KafkaTransactionalProducer } from './transactional-producer.js';
import { explainKafkaError } from './kafka-errors.js';
import { fetchTopicOffsets } from './topic-offsets.js';

const { ConfigResourceTypes } = kafkajs;
/** kafkajs's ConfigSource for a value set on the topic itself (not a broker default). */
const TOPIC_CONFIG_SOURCE = 1;
const TOPIC_SETTINGS = ['cleanup.policy', 'retention.ms', 'retention.bytes'] as const;

interface Closeable {
  close(): Promise<void>;
}

/**
 * The production transport: Kafka through kafkajs. Producers are idempotent (acks from all in-sync
 * replicas), consumers commit only when told, transactional producers write atomically across topics.
 */
export class KafkaTransport implements Transport {
  readonly kind = 'kafka';
  private readonly options: KafkaTransportOptions;
  private readonly kafka: Kafka;
  private readonly metadata: TopicMetadata;
  private readonly open = new Set<Closeable>();
  private adminClient: Promise<Admin> | undefined;
  private closed = false;

  private constructor(options: KafkaTransportOptions) {
    this.options = options;
    this.kafka = createKafkaClient(options);
    this.metadata = new TopicMetadata(() => this.admin());
  }

  /** Connects to the cluster (failing with a clear error when it cannot be reached). */
  static async connect(options: KafkaTransportOptions): Promise<KafkaTransport> {
    if (options.brokers.length === 0)
      throw new Error('Kafka transport needs at least one broker (host:port)');
    const transport = new KafkaTransport(options);
    try {
      await transport.admin();
    } catch (error) {
      await transport.close();
      throw explainKafkaError(error, options);
    }
    return transport;
  }

  async ensureTopic(name: string, config: TopicConfig): Promise<void> {
    const admin = await this.admin();
    const existing = await this.describeTopic(name);
    if (!existing) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic: name,
              numPartitions: config.partitions,
              replicationFactor: this.options.replicationFactor ?? -1,
              configEntries: topicSettings(config),
            },
          ],
        });
      } catch (error) {
        if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
      }
      this.metadata.forget(name);
      return;
    }
    if (config.partitions < existing.partitions) {
      throw new Error(
        `topic "${name}" has ${existing.partitions} partitions; the count can grow but not shrink (asked for ${config.partitions})`,
      );
    }
    if (config.partitions > existing.partitions) {
      await admin.createPartitions({ topicPartitions: [{ topic: name, count: config.partitions }] });
      this.metadata.forget(name);
    }
    const wanted = { ...existing, ...definedOnly(config) };
    if (
      wanted.compacted !== existing.compacted ||
      wanted.retentionMs !== existing.retentionMs ||
      wanted.retentionBytes !== existing.retentionBytes
    ) {
      // alterConfigs replaces the topic's settings as a whole: send every one the transport manages.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name, configEntries: topicSettings(wanted) }],
      });
    }
  }

  async listTopics(): Promise<string[]> {
    const admin = await this.admin();
    return (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
  }

  async describeTopic(
    name: string,
  ): Promise<(TopicConfig & { readonly endOffsets: readonly number[] }) | undefined> {
    const admin = await this.admin();
    const partitions = await this.metadata.fetch(name);
    if (partitions === undefined) return undefined;
    let offsets;
    let described;
    try {
      [offsets, described] = await Promise.all([
        fetchTopicOffsets(admin, name, () => this.kafka.admin()),
        admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: [...TOPIC_SETTINGS] }],
        }),
      ]);
    } catch (error) {
      if (isUnknownTopic(error)) return undefined;
      throw error;
    }
    const endOffsets = new Array<number>(partitions).fill(0);
    for (const o of offsets) endOffsets[o.partition] = Number(o.high);
    const setOnTopic = new Map(
      (described.resources[0]?.configEntries ?? [])
        .filter((e) => Number(e.configSource) === TOPIC_CONFIG_SOURCE)
        .map((e) => [e.configName, e.configValue]),
    );
    const config: { -readonly [K in keyof TopicConfig]: TopicConfig[K] } = { partitions };
    if (setOnTopic.get('cleanup.policy')?.includes('compact')) config.compacted = true;
    const retentionMs = setOnTopic.get('retention.ms');
    if (retentionMs !== undefined && Number(retentionMs) >= 0) config.retentionMs = Number(retentionMs);
    const retentionBytes = setOnTopic.get('retention.bytes');
    if (retentionBytes !== undefined && Number(retentionBytes) >= 0)
      config.retentionBytes = Number(retentionBytes);
    return { ...config, endOffsets };
  }

  producer(): Producer {
    this.assertOpen();
    const producer: KafkaProducer = new KafkaProducer(
      () => this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false }),
      this.metadata,
      {
        compression: this.options.compression ?? 'none',
        lingerMs: this.options.lingerMs ?? 0,
        maxBatchRecords: this.options.maxBatchRecords ?? 10_000,
      },
      () => this.open.delete(producer),
    );
    this.open.add(producer);
    return producer;
  }

  transactionalProducer(transactionalId: string): TransactionalProducer {
    this.assertOpen();
    const producer: KafkaTransactionalProducer = new KafkaTransactionalProducer(
      this.kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        transactionTimeout: this.options.transactionTimeoutMs ?? 60_000,
        // Right after a commit the coordinator answers CONCURRENT_TRANSACTIONS until the commit markers are written
        // (a few ms). Java's client retries that after 20 ms; kafkajs's default first wait of 300 ms put ~330 ms
        // into every such transaction (measured: commit-to-broker p50 160 ms at 2,000 changes/s). Ten retries from
        // 10 ms, doubling, still give up only after about 10 s.
        retry: { retries: (this.options.retries ?? 5) + 5, initialRetryTime: 10, maxRetryTime: 10_000 },
      }),
      this.metadata,
      this.options.compression ?? 'none',
      () => this.open.delete(producer),
    );
    this.open.add(producer);
    return producer;
  }

  /** Acknowledged means written to every in-sync replica already: there is nothing more to wait for. */
  async sync(): Promise<void> {}

  consumer(options: ConsumerOptions): Consumer {
    this.assertOpen();
    const consumer: KafkaConsumer = new KafkaConsumer({
      consumer: this.kafka.consumer({
        groupId: options.group,
        ...(options.exclusive
          ? { partitionAssigners: [exclusiveAssigner(() => consumer.assignment().length > 0)] }
          : options.copartitioned
            ? {
                partitionAssigners: [
                  copartitionedAssigner(() => consumer.assignment().map((tp) => tp.partition)),
                ],
              }
            : {}),
        allowAutoTopicCreation: false,
        sessionTimeout: this.options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: Math.min(3000, Math.floor((this.options.sessionTimeoutMs ?? 30_000) / 3)),
        // Short fetch waits let a rebalance or a close proceed quickly; an arriving record still ends a wait.
        maxWaitTimeInMs: 500,
        readUncommitted: false,
        // kafkajs would restart a crashed consumer by itself on a timer, which can fire after close() and
        // bring back a zombie member holding partitions. A crash fails poll() instead: the runtime restarts
        // the task with a fresh consumer.
        retry: {
          retries: this.options.retries ?? 5,
          initialRetryTime: 300,
          maxRetryTime: 10_000,
          restartOnFailure: async () => false,
        },
      }),
      admin: () => this.admin(),
      freshAdmin: () => this.kafka.admin(),
      group: options.group,
      topics: options.topics,
      fromBeginning: options.fromBeginning ?? true,
      onClose: () => this.open.delete(consumer),
    });
    this.open.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const results = await Promise.allSettled([...this.open].map((c) => c.close()));
    if (this.adminClient) {
      const admin = await this.adminClient.catch(() => undefined);
      await admin?.disconnect();
    }
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private admin(): Promise<Admin> {
    this.assertOpen();
    this.adminClient ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((error: unknown) => {
      this.adminClient = undefined;
      throw explainKafkaError(error, this.options);
    });
    return this.adminClient;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('Kafka transport is closed');
  }
}

function definedOnly(config: TopicConfig): Partial<TopicConfig> {
  return Object.fromEntries(
    Object.entries(config).filter(([, v]) => v !== undefined),
  ) as Partial<TopicConfig>;
}

function topicSettings(config: TopicConfig): IResourceConfigEntry[] {
  const entries: IResourceConfigEntry[] = [
    { name: 'cleanup.policy', value: config.compacted ? 'compact' : 'delete' },
  ];
  if (config.retentionMs !== undefined)
    entries.push({ name: 'retention.ms', value: String(config.retentionMs) });
  if (config.retentionBytes !== undefined) {
    entries.push({ name: 'retention.bytes', value: String(config.retentionBytes) });
  }
  return entries;
}
