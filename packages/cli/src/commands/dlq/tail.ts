import { Args, Flags } from '@oclif/core';
import { deadLetterTopic } from '@datamesh/core';
import { EXIT, MeshCommand } from '../../base-command.js';
import {
  countsByStage,
  deadLetterEnds,
  deadLetterOf,
  decodeEvent,
  nodeConfigFlag,
  openNodeTransport,
  openSchemas,
  readUntil,
  stageSelected,
  type DeadLetter,
  type DecodedEvent,
} from '../../dead-letter-reader.js';

/** One dead letter as printed: where and why it failed, and its event. */
type PrintedDeadLetter = DeadLetter & DecodedEvent;

export default class DlqTail extends MeshCommand {
  static override summary =
    "Print a pipeline's dead letters: where and why each event failed, and the event.";
  static override description =
    'Reads the dead-letter topic of the pipeline (datamesh.dlq.<pipeline>) on the transport of the node config — the ' +
    'embedded log, read-only beside a running node, or Kafka — and prints one JSON line per dead letter: its offset ' +
    'in that topic, when and in which stage, plugin and task it failed, the error, where the event was first read ' +
    '(origin topic, partition, offset), how often it was replayed before, its headers, and its key and value decoded ' +
    'with the schema registry the node uses (base64 bytes and the reason when they cannot be decoded). A summary ' +
    'by stage goes to stderr. Stops at the end of the topic unless --follow.';
  static override examples = [
    '<%= config.bin %> dlq tail orders --config node.yaml',
    '<%= config.bin %> dlq tail orders --config node.yaml --stage enrich --limit 10',
    '<%= config.bin %> dlq tail orders --config node.yaml --follow --no-from-beginning',
    '<%= config.bin %> dlq tail orders --config node.yaml --json',
  ];
  static override enableJsonFlag = true;
  static override args = {
    pipeline: Args.string({ required: true, description: 'The pipeline whose dead letters to print.' }),
  };
  static override flags = {
    config: nodeConfigFlag,
    limit: Flags.integer({ char: 'n', min: 1, description: 'Stop after this many dead letters.' }),
    follow: Flags.boolean({ char: 'f', description: 'Keep waiting for new dead letters (Ctrl-C stops).' }),
    stage: Flags.string({
      char: 's',
      multiple: true,
      description:
        'Only the dead letters of this stage (repeatable); of a stage that runs as parts (a partitioned join), of all its parts.',
    }),
    'from-beginning': Flags.boolean({
      default: true,
      allowNo: true,
      description:
        'Start at the oldest dead letter; --no-from-beginning (with --follow) prints only new ones.',
    }),
  };

  async run(): Promise<unknown> {
    const { args, flags } = await this.parse(DlqTail);
    const json = this.jsonEnabled();
    if (flags.follow && json)
      this.error('--json prints one array at the end: use --follow without it (JSON lines)', {
        exit: EXIT.invalid,
      });
    if (!flags['from-beginning'] && !flags.follow)
      this.error('--no-from-beginning prints only dead letters that arrive from now on: add --follow', {
        exit: EXIT.invalid,
      });
    const node = await openNodeTransport(flags.config, { write: false });
    const { codec, close } = openSchemas(node);
    const topic = deadLetterTopic(args.pipeline);
    const printed: PrintedDeadLetter[] = [];
    const byStage = new Map<string, number>();
    let count = 0;
    try {
      const ends = await deadLetterEnds(node, args.pipeline);
      const consumer = node.transport.consumer({
        group: `mesh-dlq-tail-${process.pid}-${Date.now()}`,
        topics: [topic],
        fromBeginning: flags['from-beginning'],
      });
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once('SIGINT', stop);
      try {
        const batches = readUntil(consumer, topic, {
          ...(flags.follow ? {} : { ends }),
          signal: abort.signal,
        });
        for await (const records of batches) {
          for (const record of records) {
            const letter = deadLetterOf(record);
            if (flags.stage && !stageSelected(flags.stage, letter.stage)) continue;
            const line: PrintedDeadLetter = { ...letter, ...(await decodeEvent(codec, record)) };
            if (json) printed.push(line);
            // JSON lines, flushed as they come (this.log would hold them back under --json only).
            else process.stdout.write(`${JSON.stringify(line)}\n`);
            count++;
            byStage.set(letter.stage, (byStage.get(letter.stage) ?? 0) + 1);
            if (flags.limit !== undefined && count >= flags.limit) abort.abort();
            if (abort.signal.aborted) break;
          }
          if (abort.signal.aborted) break;
        }
      } finally {
        process.off('SIGINT', stop);
        await consumer.close();
      }
    } finally {
      await close();
      await node.close();
    }
    if (!json) {
      const filter = flags.stage ? ` of stage ${flags.stage.join(', ')}` : '';
      this.logToStderr(`${countsByStage(count, byStage)}${filter} in ${topic}`);
    }
    return printed;
  }
}
