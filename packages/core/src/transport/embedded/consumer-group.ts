import type { TopicPartition, TopicPartitionOffset } from '../transport.js';
import type { CommittedOffsets, GroupOffsetStore } from './group-offsets.js';

export type { TopicPartition } from '../transport.js';

export interface GroupMember {
  readonly memberId: number;
  readonly topics: readonly string[];
  /** See `ConsumerOptions.exclusive`. */
  readonly exclusive: boolean;
  /** See `ConsumerOptions.copartitioned`. */
  readonly copartitioned: boolean;
  /** The partitions the member holds now. */
  assignment(): readonly TopicPartition[];
  /** The member's partitions after a rebalance (sorted by topic, then partition). */
  assign(partitions: readonly TopicPartition[]): void;
}

/**
 * Splits each topic's partitions among the members subscribed to it, in contiguous ranges, earlier members
 * first (Kafka's range assignor). Members are taken in join order. An exclusive group's partitions all go to
 * one member; a co-partitioned group's go by partition number (`copartitionedAssignment`).
 */
export function assignPartitions(
  members: readonly Pick<GroupMember, 'memberId' | 'topics' | 'exclusive' | 'copartitioned' | 'assignment'>[],
  partitionCount: (topic: string) => number | undefined,
): Map<number, TopicPartition[]> {
  const result = new Map<number, TopicPartition[]>(members.map((m) => [m.memberId, []]));
  const topics = [...new Set(members.flatMap((m) => m.topics))].sort();
  if (members.some((m) => m.exclusive)) {
    // Everything to one member: the one holding the partitions already, else the earliest to join.
    const holder = members.find((m) => m.assignment().length > 0) ?? members[0];
    if (holder === undefined) return result;
    const mine = result.get(holder.memberId)!;
    for (const topic of topics) {
      for (let p = 0; p < (partitionCount(topic) ?? 0); p++) mine.push({ topic, partition: p });
    }
    return result;
  }
  if (members.some((m) => m.copartitioned)) {
    const counts = new Map(topics.map((topic) => [topic, partitionCount(topic) ?? 0]));
    const byMember = copartitionedAssignment(members, counts, (m) =>
      m.assignment().map((tp) => tp.partition),
    );
    for (const [member, partitions] of byMember) result.set(member.memberId, partitions);
    return result;
  }
  for (const topic of topics) {
    const count = partitionCount(topic) ?? 0;
    const subscribers = members.filter((m) => m.topics.includes(topic));
    const perMember = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let next = 0;
    subscribers.forEach((member, i) => {
      const take = perMember + (i < extra ? 1 : 0);
      const mine = result.get(member.memberId)!;
      for (let p = next; p < next + take; p++) mine.push({ topic, partition: p });
      next += take;
    });
  }
  return result;
}

/**
 * Splits partition numbers among members so that each holds partition p of every topic that has one. The
 * numbers 0…(largest partition count − 1) are shared out evenly: every member gets ⌊n/m⌋, and the first n mod m
 * (in the given order) one more; members beyond the number of partitions get none. A member keeps the numbers it
 * holds (`holding`) up to its share, so a member joining or leaving moves as few numbers as it can: each moved
 * number costs its new holder a fence and a state restore.
 */
export function copartitionedAssignment<M>(
  members: readonly M[],
  partitionCounts: ReadonlyMap<string, number>,
  holding: (member: M) => readonly number[] = () => [],
): Map<M, TopicPartition[]> {
  const result = new Map<M, TopicPartition[]>(members.map((m) => [m, []]));
  if (members.length === 0) return result;
  const numbers = Math.max(0, ...partitionCounts.values());
  const base = Math.floor(numbers / members.length);
  let larger = numbers % members.length;
  const shares = new Map<M, number[]>();
  const taken = new Set<number>();
  // First what each member holds, up to its share; only `numbers mod members` of them may keep one more.
  for (const member of members) {
    const kept: number[] = [];
    for (const n of [...new Set(holding(member))].sort((a, b) => a - b)) {
      if (n < 0 || n >= numbers || taken.has(n) || kept.length >= base + 1) continue;
      if (kept.length === base && larger === 0) break;
      kept.push(n);
      taken.add(n);
    }
    if (kept.length === base + 1) larger--;
    shares.set(member, kept);
  }
  // Then the free numbers, in order: members below their share first, then one more while some may.
  const free = Array.from({ length: numbers }, (_, n) => n).filter((n) => !taken.has(n));
  for (const member of members) {
    const share = shares.get(member)!;
    while (share.length < base) share.push(free.shift()!);
  }
  for (const member of members) {
    if (free.length === 0) break;
    const share = shares.get(member)!;
    if (share.length === base && larger > 0) {
      share.push(free.shift()!);
      larger--;
    }
  }
  const topics = [...partitionCounts.keys()].sort();
  for (const member of members) {
    const share = shares.get(member)!.sort((a, b) => a - b);
    const mine = result.get(member)!;
    for (const topic of topics) {
      const count = partitionCounts.get(topic)!;
      for (const p of share) if (p < count) mine.push({ topic, partition: p });
    }
  }
  return result;
}

/** Thrown when a member commits an offset for a partition it does not own (any more). */
export class RebalancedError extends Error {
  constructor(group: string, topic: string, partition: number) {
    super(
      `group "${group}": partition ${topic}/${partition} is not assigned to this consumer (it was rebalanced away)`,
    );
    this.name = 'RebalancedError';
  }
}

class Group {
  readonly members: GroupMember[] = [];
  /** Committed offsets, loaded once (in read-only mode reloaded on every read, as the writer may change them). */
  readonly offsets: Promise<CommittedOffsets>;
  readonly owner = new Map<string, number>();

  constructor(name: string, store: GroupOffsetStore) {
    this.offsets = store.load(name);
  }
}

/** The consumer groups of one transport instance: membership, partition assignment and committed offsets. */
export class ConsumerGroups {
  private readonly groups = new Map<string, Group>();

  private readonly store: GroupOffsetStore;
  private readonly partitionCount: (topic: string) => number | undefined;
  private readonly readOnly: boolean;

  constructor(
    store: GroupOffsetStore,
    partitionCount: (topic: string) => number | undefined,
    readOnly: boolean,
  ) {
    this.store = store;
    this.partitionCount = partitionCount;
    this.readOnly = readOnly;
  }

  join(group: string, member: GroupMember): void {
    let state = this.groups.get(group);
    if (state === undefined) {
      state = new Group(group, this.store);
      state.offsets.catch(() => undefined);
      this.groups.set(group, state);
    }
    state.members.push(member);
    this.rebalance(state);
  }

  leave(group: string, member: GroupMember): void {
    const state = this.groups.get(group);
    if (state === undefined) return;
    const index = state.members.indexOf(member);
    if (index < 0) return;
    state.members.splice(index, 1);
    if (state.members.length === 0) this.groups.delete(group);
    else this.rebalance(state);
  }

  /** Topics were created or grew: reassign every group. */
  topicsChanged(): void {
    for (const state of this.groups.values()) this.rebalance(state);
  }

  async committed(group: string): Promise<CommittedOffsets> {
    if (this.readOnly) return this.store.load(group);
    const state = this.groups.get(group);
    return state === undefined ? this.store.load(group) : state.offsets;
  }

  async commit(group: string, member: GroupMember, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.readOnly) throw new Error('cannot commit offsets: the transport was opened read-only');
    const state = this.groups.get(group);
    if (state === undefined || !state.members.includes(member))
      throw new Error(`consumer is not a member of group "${group}"`);
    for (const { topic, partition, offset } of offsets) {
      if (!Number.isSafeInteger(offset) || offset < 0)
        throw new Error(`invalid offset ${offset} for ${topic}/${partition}`);
      if (state.owner.get(`${topic}/${partition}`) !== member.memberId)
        throw new RebalancedError(group, topic, partition);
    }
    await this.store.save(group, merged(await state.offsets, offsets));
  }

  /**
   * Stores offsets a transaction commits. Its producer's fencing stands in for membership, as on Kafka: the
   * group may even have no member in this process.
   */
  async storeCommitted(group: string, offsets: readonly TopicPartitionOffset[]): Promise<void> {
    if (this.readOnly) throw new Error('cannot commit offsets: the transport was opened read-only');
    await this.store.save(group, merged(await this.committed(group), offsets));
  }

  private rebalance(state: Group): void {
    const assignment = assignPartitions(state.members, this.partitionCount);
    state.owner.clear();
    for (const member of state.members) {
      const partitions = assignment.get(member.memberId) ?? [];
      for (const { topic, partition } of partitions)
        state.owner.set(`${topic}/${partition}`, member.memberId);
      member.assign(partitions);
    }
  }
}

/** Sets `offsets` into a group's committed offsets (in place) and answers them. */
function merged(committed: CommittedOffsets, offsets: readonly TopicPartitionOffset[]): CommittedOffsets {
  for (const { topic, partition, offset } of offsets) {
    let partitions = committed.get(topic);
    if (partitions === undefined) committed.set(topic, (partitions = new Map()));
    partitions.set(partition, offset);
  }
  return committed;
}
