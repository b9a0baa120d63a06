import { Args, Flags } from '@oclif/core';
import {
  deadLetterTopic,
  DirLockedError,
  replayRecord,
  replayTopic,
  type ConsumedRecord,
  type TopicPartitionOffset,
} from '@datamesh/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import {
  countsByStage,
  deadLetterEnds,
  deadLetterOf,
  nodeConfigFlag,
  openNodeTransport,
  readUntil,
  replayProgressGroup,
  stageSelected,
  type NodeTransport,
} from '../../dead-letter-reader.js';

const PROGRESS_EVERY = 1000;

interface Outcome {
  replayed: number;
  readonly byStage: Map<string, number>;
  /** Dead letters of other stages than --stage that the progress moved past. */
  passedOver: number;
  readonly passedOverByStage: Map<string, number>;
}

export default class DlqReplay extends MeshCommand {
  static override summary = "Write a pipeline's dead letters back for the tasks that failed on them.";
  static override description =
    'Writes the dead letters of the pipeline (datamesh.dlq.<pipeline>), as they were read the first time, to its ' +
    'replay topic (datamesh.dlq.<pipeline>.replay). Every consumer task of the pipeline reads that topic and takes ' +
    'the events it failed on itself, so a replay reaches neither its other tasks nor other pipelines reading the ' +
    'same topics. Fix the cause first (the plugin, its config, the data it looks up): an event that fails again is ' +
    'a new dead letter with one more replay counted. A replayed event arrives after newer events of its key.\n\n' +
    'The progress is kept in the consumer group datamesh.dlq-replay.<pipeline>, committed once the replayed records ' +
    'are durable: a second run replays only dead letters added since. --stage replays the dead letters of some ' +
    'stages and moves the progress past the others too (replay those with --all --stage <stage>); --all replays ' +
    'from the oldest dead letter and then moves the progress to where it stopped; --offset replays the dead letters ' +
    'at those offsets (as `mesh dlq tail` prints them) and leaves the progress alone.\n\n' +
    'On the embedded transport the log has one writer: stop the node, replay, start it again (it takes the replayed ' +
    'events when it starts); --dry-run reads beside a running node. On Kafka the running tasks take them at once.';
  static override examples = [
    '<%= config.bin %> dlq replay orders --config node.yaml --dry-run',
    '<%= config.bin %> dlq replay orders --config node.yaml',
    '<%= config.bin %> dlq replay orders --config node.yaml --stage enrich --limit 100',
    '<%= config.bin %> dlq replay orders --config node.yaml --offset 17 --offset 18',
    '<%= config.bin %> dlq replay orders --config node.yaml --all',
  ];
  static override enableJsonFlag = true;
  static override args = {
    pipeline: Args.string({ required: true, description: 'The pipeline whose dead letters to replay.' }),
  };
  static override flags = {
    config: nodeConfigFlag,
    stage: Flags.string({
      char: 's',
      multiple: true,
      description:
        'Only the dead letters of this stage (repeatable); of a stage that runs as parts (a partitioned join), of all its parts.',
    }),
    offset: Flags.integer({
      char: 'o',
      multiple: true,
      min: 0,
      description:
        'Only the dead letter at this offset of the dead-letter topic, as `mesh dlq tail` prints it (repeatable); ' +
        'the progress is neither used nor moved.',
    }),
    limit: Flags.integer({ char: 'n', min: 1, description: 'Replay at most this many dead letters.' }),
    all: Flags.boolean({
      char: 'a',
      description: 'Ignore the progress: replay from the oldest dead letter, those replayed before too.',
      exclusive: ['offset'],
    }),
    'dry-run': Flags.boolean({ description: 'Print what would be replayed; write and remember nothing.' }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(DlqReplay);
    const { pipeline } = args;
    const dryRun = flags['dry-run'];
    const node = await this.open(flags.config, pipeline, !dryRun);
    const outcome: Outcome = { replayed: 0, byStage: new Map(), passedOver: 0, passedOverByStage: new Map() };
    let progressMoved = false;
    let atEnd = false;
    try {
      const ends = await deadLetterEnds(node, pipeline);
      const topic = deadLetterTopic(pipeline);
      if (flags.offset) {
        const wanted = new Set(flags.offset);
        const found = await this.collect(node, topic, ends, (r) => wanted.has(r.offset));
        const missing = [...wanted].filter((o) => !found.some((r) => r.offset === o)).sort((a, b) => a - b);
        if (missing.length > 0) {
          this.error(
            `no dead letter at offset ${missing.join(', ')} of ${topic} (its offsets run up to ${Math.max(0, ...ends) - 1}); ` +
              `\`mesh dlq tail ${pipeline}\` shows them`,
            { exit: EXIT.invalid },
          );
        }
        const selected = found.filter((r) => this.wanted(r, flags.stage, outcome));
        await this.replay(node, pipeline, selected.slice(0, flags.limit ?? selected.length), dryRun, outcome);
      } else {
        const group = replayProgressGroup(pipeline);
        const consumer = node.transport.consumer({
          group: flags.all ? `mesh-dlq-replay-${process.pid}-${Date.now()}` : group,
          topics: [topic],
          fromBeginning: true,
        });
        const read = new Map<number, number>();
        try {
          const start = flags.all ? [] : await consumer.committed();
          atEnd = ends.every((end, p) => end <= (start.find((s) => s.partition === p)?.offset ?? 0));
          for await (const records of readUntil(consumer, topic, { ends, start })) {
            const batch: ConsumedRecord[] = [];
            let full = false;
            for (const record of records) {
              if (flags.limit !== undefined && outcome.replayed + batch.length >= flags.limit) {
                full = true;
                break;
              }
              read.set(record.partition, record.offset + 1);
              if (this.wanted(record, flags.stage, outcome)) batch.push(record);
            }
            await this.replay(node, pipeline, batch, dryRun, outcome);
            // The progress moves only once what it passes is durable in the replay topic.
            if (!dryRun && !flags.all && read.size > 0) {
              await consumer.commit(offsetsOf(topic, read));
              progressMoved = true;
            }
            if (full) break;
          }
        } finally {
          await consumer.close();
        }
        if (flags.all && !dryRun && read.size > 0)
          progressMoved = await this.advance(node, topic, read, group);
      }
    } finally {
      await node.close();
    }
    this.report(pipeline, node, outcome, { dryRun, atEnd, progress: !flags.all && !flags.offset });
    return {
      pipeline,
      replayTopic: replayTopic(pipeline),
      dryRun,
      replayed: outcome.replayed,
      byStage: Object.fromEntries(outcome.byStage),
      passedOver: outcome.passedOver,
      progressMoved,
    };
  }

  /** The node's transport, writable unless a dry run; a running node holding the embedded log is said plainly. */
  private async open(configFile: string, pipeline: string, write: boolean): Promise<NodeTransport> {
    try {
      return await openNodeTransport(configFile, { write });
    } catch (error) {
      if (!(error instanceof DirLockedError)) throw error;
      this.error(
        `a node (pid ${error.pid}) is running on the embedded log in ${error.dir}, which has one writer: stop the ` +
          `node, run \`mesh dlq replay ${pipeline}\` again, then start the node (it takes the replayed events when ` +
          'it starts). --dry-run works beside the running node.',
        { exit: EXIT.invalid },
      );
    }
  }

  /** Whether --stage selects the dead letter; counts the ones it passes over. */
  private wanted(record: ConsumedRecord, stages: readonly string[] | undefined, outcome: Outcome): boolean {
    if (!stages) return true;
    const { stage } = deadLetterOf(record);
    if (stageSelected(stages, stage)) return true;
    outcome.passedOver++;
    outcome.passedOverByStage.set(stage, (outcome.passedOverByStage.get(stage) ?? 0) + 1);
    return false;
  }

  /** Every dead letter `keep` selects, read from the oldest without touching the progress. */
  private async collect(
    node: NodeTransport,
    topic: string,
    ends: readonly number[],
    keep: (record: ConsumedRecord) => boolean,
  ): Promise<ConsumedRecord[]> {
    const consumer = node.transport.consumer({
      group: `mesh-dlq-replay-${process.pid}-${Date.now()}`,
      topics: [topic],
      fromBeginning: true,
    });
    const found: ConsumedRecord[] = [];
    try {
      for await (const records of readUntil(consumer, topic, { ends })) found.push(...records.filter(keep));
    } finally {
      await consumer.close();
    }
    return found;
  }

  /** Writes the replays durably (or prints them, in a dry run) and counts them. */
  private async replay(
    node: NodeTransport,
    pipeline: string,
    records: readonly ConsumedRecord[],
    dryRun: boolean,
    outcome: Outcome,
  ): Promise<void> {
    if (records.length === 0) return;
    if (dryRun) {
      for (const record of records) {
        const l = deadLetterOf(record);
        this.log(
          `would replay offset ${l.offset}: ${l.kind} ${l.stage} (${l.plugin}) failed on ` +
            `${l.origin.topic}/${l.origin.partition ?? '?'}@${l.origin.offset ?? '?'}` +
            `${l.replays > 0 ? ` after ${l.replays} replay(s)` : ''}: ${l.error}`,
        );
      }
    } else {
      const partitions = (await node.transport.describeTopic(replayTopic(pipeline)))?.partitions;
      const producer = node.transport.producer();
      try {
        await producer.send(records.map((r) => replayRecord(pipeline, r, partitions)));
      } finally {
        await producer.close();
      }
      // On stable storage (not only past this process) before the progress passes them.
      await node.transport.sync();
    }
    const before = outcome.replayed;
    for (const record of records) {
      const { stage } = deadLetterOf(record);
      outcome.byStage.set(stage, (outcome.byStage.get(stage) ?? 0) + 1);
    }
    outcome.replayed += records.length;
    if (Math.floor(outcome.replayed / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY))
      this.log(`${dryRun ? 'would replay' : 'replayed'} ${outcome.replayed} dead letters…`);
  }

  /** After --all: moves the progress to where it read, unless it was further already. */
  private async advance(
    node: NodeTransport,
    topic: string,
    read: ReadonlyMap<number, number>,
    group: string,
  ): Promise<boolean> {
    const consumer = node.transport.consumer({ group, topics: [topic], fromBeginning: true });
    try {
      const committed = await consumer.committed();
      const next = new Map<number, number>();
      for (const [partition, offset] of read) {
        const previous = committed.find((c) => c.topic === topic && c.partition === partition)?.offset ?? 0;
        if (offset > previous) next.set(partition, offset);
      }
      if (next.size === 0) return false;
      // A Kafka member commits only the partitions it was assigned: joining takes a poll.
      await consumer.poll({ maxRecords: 1, maxWaitMs: 0 });
      await consumer.commit(offsetsOf(topic, next));
      return true;
    } finally {
      await consumer.close();
    }
  }

  private report(
    pipeline: string,
    node: NodeTransport,
    outcome: Outcome,
    options: { dryRun: boolean; atEnd: boolean; progress: boolean },
  ): void {
    const { replayed, byStage, passedOver, passedOverByStage } = outcome;
    if (options.dryRun) {
      this.log(
        `would replay ${countsByStage(replayed, byStage)} of pipeline "${pipeline}" (dry run: nothing written)`,
      );
    } else if (replayed === 0) {
      this.log(
        options.atEnd
          ? `nothing to replay: every dead letter of pipeline "${pipeline}" was replayed before (--all replays them again)`
          : `nothing to replay for pipeline "${pipeline}"`,
      );
    } else {
      const then =
        node.config.transport.kind === 'embedded'
          ? 'start the node: its tasks take them when it starts'
          : 'the running tasks that failed on them take them';
      this.log(`replayed ${countsByStage(replayed, byStage)} to ${replayTopic(pipeline)}; ${then}`);
    }
    if (passedOver > 0) {
      const stages = [...passedOverByStage.keys()].sort();
      this.log(
        `passed over ${countsByStage(passedOver, passedOverByStage)} of other stages` +
          (options.dryRun || !options.progress
            ? ''
            : `; the progress is past them: replay them with --all --stage ${stages[0] || '<stage>'}`),
      );
    }
  }
}

function offsetsOf(topic: string, next: ReadonlyMap<number, number>): TopicPartitionOffset[] {
  return [...next.entries()].map(([partition, offset]) => ({ topic, partition, offset }));
}
