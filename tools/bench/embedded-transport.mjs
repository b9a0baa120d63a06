// Append + read throughput of the embedded transport, beside a raw baseline on the same disk: plain `fs`
// writes and reads of the same payload bytes, in the same batches split over the same partitions. Appends are
// measured twice: plain sends, and a transaction per batch (with a position record, as a source writes).
//   node tools/bench/embedded-transport.mjs [--events 1000000] [--batch 500] [--partitions 4]
//        [--value-bytes 192] [--fsync interval|always|never] [--dir /path/on/the/disk/to/test]
import { printTable } from './lib/report.mjs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedTransport, partitionForKey } from '../../packages/core/dist/index.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '500' },
    partitions: { type: 'string', default: '4' },
    'value-bytes': { type: 'string', default: '192' },
    fsync: { type: 'string', default: 'interval' },
    dir: { type: 'string', default: tmpdir() },
  },
});
let events = Number(values.events);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);
const valueBytes = Number(values['value-bytes']);
const fsync = values.fsync;
const READ_CHUNK = 1 << 20;

// Distinct keys and values, built up front so generating them is not what gets measured.
const keys = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`key-${String(i).padStart(4, '0')}`));
const valuePool = Array.from({ length: 1024 }, (_, i) => {
  const v = Buffer.alloc(valueBytes);
  for (let j = 0; j < valueBytes; j++) v[j] = 32 + ((i * 31 + j * 7) % 95);
  return v;
});
const keyOf = (i) => keys[i % keys.length];
const valueOf = (i) => valuePool[i % valuePool.length];
const payloadBytes = keys[0].length + valueBytes;
let totalPayload = events * payloadBytes;

const root = await mkdtemp(join(values.dir, 'datamesh-bench-'));
let cleaned = false;
const cleanup = async () => {
  if (cleaned) return;
  cleaned = true;
  await rm(root, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  // A short unmeasured round first, so that both sides run JIT-compiled code.
  const measured = events;
  events = Math.min(events, 50_000);
  totalPayload = events * payloadBytes;
  await benchEmbedded(join(root, 'warmup-embedded'));
  await benchRawFs(join(root, 'warmup-raw'));
  await rm(join(root, 'warmup-embedded'), { recursive: true });
  await rm(join(root, 'warmup-raw'), { recursive: true });
  events = measured;
  totalPayload = events * payloadBytes;

  const embedded = await benchEmbedded(join(root, 'embedded'));
  const raw = await benchRawFs(join(root, 'raw'));
  printReport(embedded, raw);
} finally {
  await cleanup();
}

async function benchEmbedded(dir) {
  const transport = await EmbeddedTransport.open({ dir, fsync });
  await transport.ensureTopic('bench', { partitions });
  const producer = transport.producer();
  let started = performance.now();
  for (let from = 0; from < events; from += batchSize) {
    const batch = [];
    for (let i = from; i < Math.min(events, from + batchSize); i++) {
      batch.push({ topic: 'bench', key: keyOf(i), value: valueOf(i) });
    }
    await producer.send(batch);
  }
  const appendMs = performance.now() - started;

  // The same batches in transactions, each with a position record to a second topic, as a source writes them.
  await transport.ensureTopic('bench-tx', { partitions });
  await transport.ensureTopic('bench-positions', { partitions: 1, compacted: true });
  const transactional = transport.transactionalProducer('bench');
  started = performance.now();
  for (let from = 0; from < events; from += batchSize) {
    const batch = [];
    for (let i = from; i < Math.min(events, from + batchSize); i++) {
      batch.push({ topic: 'bench-tx', key: keyOf(i), value: valueOf(i) });
    }
    batch.push({ topic: 'bench-positions', key: Buffer.from('source'), value: Buffer.from(String(from)) });
    const tx = await transactional.begin();
    await tx.send(batch);
    await tx.commit();
  }
  const transactionMs = performance.now() - started;
  await transactional.close();

  const consumer = transport.consumer({ group: 'bench', topics: ['bench'] });
  started = performance.now();
  let read = 0;
  let bytes = 0;
  while (read < events) {
    const records = await consumer.poll({ maxRecords: batchSize, maxWaitMs: 1000 });
    if (records.length === 0) throw new Error(`read stalled at ${read} of ${events} events`);
    for (const r of records) bytes += r.key.length + r.value.length;
    read += records.length;
  }
  const readMs = performance.now() - started;
  if (bytes !== totalPayload) throw new Error(`read ${bytes} payload bytes, expected ${totalPayload}`);
  await consumer.close();
  await producer.close();
  started = performance.now();
  await transport.close();
  const closeMs = performance.now() - started;
  const diskBytes = await directoryBytes(join(dir, 'topics', 'bench'));
  return { appendMs, transactionMs, readMs, closeMs, diskBytes };
}

async function benchRawFs(dir) {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const files = await Promise.all(
    Array.from({ length: partitions }, (_, p) => open(join(dir, `${p}.bin`), 'w+')),
  );
  const positions = new Array(partitions).fill(0);
  let started = performance.now();
  for (let from = 0; from < events; from += batchSize) {
    // The same split as the transport's: each batch's records grouped per partition, one write per partition.
    const parts = Array.from({ length: partitions }, () => []);
    for (let i = from; i < Math.min(events, from + batchSize); i++) {
      const key = keyOf(i);
      parts[partitionForKey(key, partitions)].push(key, valueOf(i));
    }
    await Promise.all(
      parts.map(async (bufs, p) => {
        if (bufs.length === 0) return;
        const buf = Buffer.concat(bufs);
        const position = positions[p];
        positions[p] += buf.length;
        let written = 0;
        while (written < buf.length) {
          written += (await files[p].write(buf, written, buf.length - written, position + written))
            .bytesWritten;
        }
      }),
    );
  }
  const appendMs = performance.now() - started;

  started = performance.now();
  let bytes = 0;
  for (let p = 0; p < partitions; p++) {
    for (let position = 0; position < positions[p];) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, positions[p] - position));
      const { bytesRead } = await files[p].read(chunk, 0, chunk.length, position);
      if (bytesRead === 0) throw new Error('short file');
      position += bytesRead;
      bytes += bytesRead;
    }
  }
  const readMs = performance.now() - started;
  if (bytes !== totalPayload) throw new Error(`raw read ${bytes} bytes, expected ${totalPayload}`);
  started = performance.now();
  await Promise.all(files.map(async (f) => (await f.datasync(), await f.close())));
  const closeMs = performance.now() - started;
  return { appendMs, readMs, closeMs, diskBytes: bytes };
}

async function directoryBytes(dir) {
  const { readdir, stat } = await import('node:fs/promises');
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

function printReport(embedded, raw) {
  const fmt = (n, digits = 0) =>
    n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const row = (phase, what, ms) => {
    const seconds = ms / 1000;
    return [phase, what, fmt(events / seconds), fmt(totalPayload / 1e6 / seconds, 1), fmt(seconds, 2)];
  };
  const rows = [
    ['phase', 'what', 'events/s', 'MB/s', 'seconds'],
    row('append', `embedded (fsync ${fsync})`, embedded.appendMs),
    row('append', 'embedded, a transaction per batch', embedded.transactionMs),
    row('append', 'raw fs write', raw.appendMs),
    row('read', 'embedded consumer', embedded.readMs),
    row('read', 'raw fs read', raw.readMs),
  ];
  console.log(
    `\n${fmt(events)} events of ${payloadBytes} B payload (key ${keys[0].length} B + value ${valueBytes} B), ` +
      `batches of ${batchSize}, ${partitions} partitions; node ${process.version}, ${cpus().length} CPUs, dir ${values.dir}`,
  );
  printTable(rows, { textColumns: 2 });
  console.log(
    `\nembedded / raw: append ${fmt(raw.appendMs / embedded.appendMs, 2)}×, in transactions ` +
      `${fmt(raw.appendMs / embedded.transactionMs, 2)}×, read ${fmt(raw.readMs / embedded.readMs, 2)}× ` +
      `(1.00× = as fast as plain fs)`,
  );
  console.log(
    `on disk: embedded ${fmt(embedded.diskBytes / 1e6, 1)} MB (${fmt((embedded.diskBytes - totalPayload) / events, 1)} B framing ` +
      `per record), raw ${fmt(raw.diskBytes / 1e6, 1)} MB; close (final fsync): embedded ${fmt(embedded.closeMs)} ms, raw ${fmt(raw.closeMs)} ms`,
  );
}
