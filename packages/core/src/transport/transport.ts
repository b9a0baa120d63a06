/**
 * What stages exchange events over. The embedded log implements it for one machine; Kafka
 * implements it in production. Both pass the same transport conformance tests.
 */
export interface TopicConfig {
  readonly partitions: number;
  /** Keep only the newest record per key (state changelogs, positions). */
  readonly compacted?: boolean;
  /** Delete records older than this (ms); undefined keeps them. */
  readonly retentionMs?: number;
  /** Delete the oldest segments once a partition holds more than this (bytes). */
  readonly retentionBytes?: number;
}

export type Headers = Readonly<Record<string, string>>;

export interface ProduceRecord {
  readonly topic: string;
  readonly key: Buffer | null;
  /** null is a tombstone. */
  readonly value: Buffer | null;
  readonly headers?: Headers;
  /** Chosen from the key when absent (Kafka's murmur2 partitioner), round-robin for null keys. */
  readonly partition?: number;
  readonly timestamp?: number;
}

export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
}

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** The next offset to read, per topic and partition (Kafka's convention: last consumed + 1). */
export interface TopicPartitionOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export interface Producer {
  /**
   * Appends records; resolves once they are durable (survive a crash of this process).
   * Records of one call to one partition keep their order.
   */
  send(records: readonly ProduceRecord[]): Promise<RecordMetadata[]>;
  close(): Promise<void>;
}

/**
 * One atomic write: consumers that read committed data see every record of a committed transaction or, after
 * an abort or a crash of the writer, none of them.
 */
export interface Transaction {
  /**
   * Adds records to the transaction (visible to readers only once committed). A transport may write them at
   * once (Kafka) or only on commit (the embedded log), so their offsets are known once `commit` resolves.
   */
  send(records: readonly ProduceRecord[]): Promise<void>;
  /** Commits a consumer group's offsets as part of the transaction (consume–transform–produce exactly once). */
  sendOffsets(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Commits; resolves with where every record sent landed, in the order they were sent. */
  commit(): Promise<readonly RecordMetadata[]>;
  abort(): Promise<void>;
}

/**
 * Writes in transactions under one transactional id. Opening a second producer with the same id fences the
 * first (its next write fails) and aborts a transaction the first left open, e.g. by crashing.
 */
export interface TransactionalProducer {
  /**
   * Registers the transactional id: fences any older producer with the same id and completes or aborts
   * what it left open. `begin` does it too; a caller that must read state only after that calls it first.
   */
  init(): Promise<void>;
  begin(): Promise<Transaction>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  readonly group: string;
  readonly topics: readonly string[];
  /** Where to start when the group has no committed offset. Default: earliest. */
  readonly fromBeginning?: boolean;
  /**
   * One member of the group at a time holds every partition of its topics; the others stand by with none, and
   * one of them takes over when the holder leaves (its node stopped or died). A member that joins does not take
   * the partitions from the one holding them. Default: the partitions are split among the members.
   */
  readonly exclusive?: boolean;
  /**
   * Members hold whole partition numbers: partition p of every subscribed topic goes to the same member, so a
   * task run once per input partition sees all of that partition's inputs (its co-partitioned inputs, its
   * replay topic). The numbers are shared out evenly, and a member keeps those it holds when another joins or
   * leaves (as far as an even share allows). Default: each topic's partitions are split on their own.
   */
  readonly copartitioned?: boolean;
}

export interface Consumer {
  /** Up to `maxRecords` records, waiting up to `maxWaitMs` for the first; empty when none arrived. */
  poll(options: { maxRecords: number; maxWaitMs: number; signal?: AbortSignal }): Promise<ConsumedRecord[]>;
  /** Stores the group's next offsets durably. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** The group's committed next offsets. */
  committed(): Promise<TopicPartitionOffset[]>;
  /**
   * The partitions this member holds now: none before it joined its group, or while it stands by (`exclusive`).
   * Throws when the consumer failed, as `poll` would.
   */
  assignment(): readonly TopicPartition[];
  /** Records not yet consumed by this group (end offset − committed), summed over partitions. */
  lag(): Promise<number>;
  /**
   * Optional: true once poll has handed out every record of `topic` before `ends[partition]`, counting
   * records no reader ever sees (transaction markers, aborted records) as read. Transports whose topics can
   * end in such records implement it, so a reader knows it reached the end without waiting.
   */
  readUpTo?(topic: string, ends: readonly number[]): boolean;
  close(): Promise<void>;
}

export interface Transport {
  readonly kind: string;
  ensureTopic(name: string, config: TopicConfig): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopic(
    name: string,
  ): Promise<(TopicConfig & { readonly endOffsets: readonly number[] }) | undefined>;
  producer(): Producer;
  /** Present on transports that write atomically across topics and partitions (Kafka). */
  transactionalProducer?(transactionalId: string): TransactionalProducer;
  /**
   * Resolves once everything acknowledged so far is on stable storage (survives a power loss, not only a
   * process crash). Sources are acknowledged only after it, so a database never releases log space for
   * events that could still be lost. Transports whose acknowledgement already means that resolve at once.
   */
  sync(): Promise<void>;
  consumer(options: ConsumerOptions): Consumer;
  close(): Promise<void>;
}
