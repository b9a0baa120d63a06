import { Args, Flags } from '@oclif/core';
import { EmbeddedTransport, EventCodec, LocalSchemaRegistry } from '@datamesh/core';
import { join, resolve } from 'node:path';
import { MeshCommand } from '../../base-command.js';

export default class TopicTail extends MeshCommand {
  static override summary = 'Print the events of a topic of the embedded transport.';
  static override description =
    'Opens the embedded log read-only (a running node keeps writing), decodes each record with its registered Avro ' +
    'schema and prints one JSON line per event. Stops after --limit events, or at the end of the topic unless --follow.';
  static override examples = [
    '<%= config.bin %> topic tail orders.orders --data-dir .datamesh/demo',
    '<%= config.bin %> topic tail orders.orders --follow --limit 100',
  ];
  static override args = { topic: Args.string({ required: true, description: 'Topic name.' }) };
  static override flags = {
    'data-dir': Flags.string({ char: 'd', default: '.datamesh', description: 'The node’s data dir.' }),
    limit: Flags.integer({ char: 'n', min: 1, description: 'Stop after this many events.' }),
    follow: Flags.boolean({ char: 'f', description: 'Keep waiting for new events (Ctrl-C stops).' }),
    list: Flags.boolean({ description: 'List the topics instead.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TopicTail);
    const dataDir = resolve(flags['data-dir']);
    const transport = await EmbeddedTransport.open({ dir: join(dataDir, 'log'), readOnly: true });
    try {
      const topics = await transport.listTopics();
      if (!topics.includes(args.topic)) {
        this.error(
          `no topic "${args.topic}" in ${dataDir}; topics: ${topics.filter((t) => !t.startsWith('__')).join(', ') || 'none'}`,
          { exit: 2 },
        );
      }
      const codec = new EventCodec(await LocalSchemaRegistry.open(join(dataDir, 'schemas.json')));
      const consumer = transport.consumer({
        group: `mesh-topic-tail-${process.pid}`,
        topics: [args.topic],
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
          this.log(JSON.stringify({ partition: record.partition, offset: record.offset, ...event }));
          if (flags.limit !== undefined && ++printed >= flags.limit) abort.abort();
          if (abort.signal.aborted) break;
        }
      }
      await consumer.close();
    } finally {
      await transport.close();
    }
  }
}
