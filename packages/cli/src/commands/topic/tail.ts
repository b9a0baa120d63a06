import { Args, Flags } from '@oclif/core';
import { EventCodec, LocalSchemaRegistry, type EmbeddedTransport } from '@datamesh/core';
import { join, resolve } from 'node:path';
import { EXIT, MeshCommand } from '../../base-command.js';
import { openEmbeddedLog } from '../../embedded-log.js';

interface TopicListing {
  readonly name: string;
  readonly partitions: number;
  /** The next offset of each partition (its record count, before retention and compaction). */
  readonly endOffsets: readonly number[];
}

export default class TopicTail extends MeshCommand {
  static override summary = 'Print the events of a topic of the embedded transport, or list its topics.';
  static override description =
    'Opens the embedded log read-only (a running node keeps writing), decodes each record with its registered Avro ' +
    'schema and prints one JSON line per event. Stops after --limit events, or at the end of the topic unless --follow. ' +
    'With --list, prints the topics with their partition count and end offsets instead (internal ones — __* and the dead-letter replay topics — with --all).';
  static override examples = [
    '<%= config.bin %> topic tail orders.orders --data-dir .datamesh/demo',
    '<%= config.bin %> topic tail orders.orders --follow --limit 100',
    '<%= config.bin %> topic tail --list --data-dir .datamesh/demo',
    '<%= config.bin %> topic tail --list --all --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    topic: Args.string({ required: false, description: 'Topic name (none with --list).' }),
  };
  static override flags = {
    'data-dir': Flags.string({ char: 'd', default: '.datamesh', description: 'The node’s data dir.' }),
    limit: Flags.integer({ char: 'n', min: 1, description: 'Stop after this many events.' }),
    follow: Flags.boolean({ char: 'f', description: 'Keep waiting for new events (Ctrl-C stops).' }),
    list: Flags.boolean({
      char: 'l',
      description: 'List the topics with their partition count and end offsets instead.',
      exclusive: ['limit', 'follow'],
    }),
    all: Flags.boolean({
      char: 'a',
      description: 'With --list, also list internal topics (__* and datamesh.dlq.*.replay).',
      dependsOn: ['list'],
    }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(TopicTail);
    if (flags.list && args.topic !== undefined)
      this.error(`pass a topic to tail or --list, not both (got topic "${args.topic}")`, {
        exit: EXIT.invalid,
      });
    if (!flags.list && args.topic === undefined)
      this.error('name the topic to tail (mesh topic tail <topic>), or pass --list to see the topics', {
        exit: EXIT.invalid,
      });
    const dataDir = resolve(flags['data-dir']);
    const transport = await openEmbeddedLog(dataDir, { readOnly: true });
    try {
      if (flags.list) return await this.list(transport, dataDir, flags.all);
      await this.tail(transport, dataDir, args.topic!, flags);
      return undefined;
    } finally {
      await transport.close();
    }
  }

  private async list(
    transport: EmbeddedTransport,
    dataDir: string,
    all: boolean,
  ): Promise<{ topics: TopicListing[] }> {
    const topics: TopicListing[] = [];
    for (const name of (await transport.listTopics()).sort()) {
      if (!all && isInternal(name)) continue;
      const described = await transport.describeTopic(name);
      if (described)
        topics.push({ name, partitions: described.partitions, endOffsets: [...described.endOffsets] });
    }
    if (!this.jsonEnabled()) {
      if (topics.length === 0)
        this.log(`no topics in ${dataDir}${all ? '' : ' (--all shows internal ones)'}`);
      else {
        const width = Math.max('TOPIC'.length, ...topics.map((t) => t.name.length));
        this.log(`${'TOPIC'.padEnd(width)}  PARTITIONS  END OFFSETS`);
        for (const t of topics)
          this.log(`${t.name.padEnd(width)}  ${String(t.partitions).padEnd(10)}  ${t.endOffsets.join(' ')}`);
      }
    }
    return { topics };
  }

  private async tail(
    transport: EmbeddedTransport,
    dataDir: string,
    topic: string,
    flags: { limit?: number | undefined; follow: boolean },
  ): Promise<void> {
    const topics = await transport.listTopics();
    if (!topics.includes(topic)) {
      this.error(
        `no topic "${topic}" in ${dataDir}; topics: ${topics.filter((t) => !isInternal(t)).join(', ') || 'none'}`,
        { exit: EXIT.invalid },
      );
    }
    const codec = new EventCodec(await LocalSchemaRegistry.open(join(dataDir, 'schemas.json')));
    const consumer = transport.consumer({
      group: `mesh-topic-tail-${process.pid}`,
      topics: [topic],
      fromBeginning: true,
    });
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    let printed = 0;
    while (!abort.signal.aborted) {
      const records = await consumer.poll({
        maxRecords: 500,
        maxWaitMs: flags.follow ? 500 : 0,
        signal: abort.signal,
      });
      if (records.length === 0 && !flags.follow) break;
      for (const record of records) {
        const event = await codec.decode(record);
        // JSON lines already, with or without --json (which this.log would silence).
        process.stdout.write(
          `${JSON.stringify({ partition: record.partition, offset: record.offset, ...event })}\n`,
        );
        if (flags.limit !== undefined && ++printed >= flags.limit) abort.abort();
        if (abort.signal.aborted) break;
      }
    }
    await consumer.close();
  }
}

/** Topics the node keeps for itself: positions, offsets, state changelogs. */
/** The runtime's own topics: `__*` (positions, state, registry, catalog) and each pipeline's replay topic. */
function isInternal(topic: string): boolean {
  return topic.startsWith('__') || /^datamesh\.dlq\..+\.replay$/.test(topic);
}
