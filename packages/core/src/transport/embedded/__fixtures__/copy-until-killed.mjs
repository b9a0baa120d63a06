// Child process of transaction-crash.test.ts: copies topic "in" to "out" exactly once, in transactions that
// also write a tally record (how many records the transaction copied) to "tallies" and commit the input
// offsets, printing "committed <n>" after each commit, until it finds nothing more to copy ("done") or is killed
// (from outside, or by itself in the middle of a commit).
// Like append-until-killed.mjs it runs the TypeScript sources directly.
import './ts-sources.mjs';

const { EmbeddedTransport } = await import('../embedded-transport.ts');
const { PartitionLog } = await import('../partition-log.ts');
const { GroupOffsetStore } = await import('../group-offsets.ts');

// "append:<n>": the copier kills itself as its n-th partition append starts (before it reaches its file);
// "appended:<n>": once that append is in its file and before the commit's later appends reach theirs;
// "offsets:<n>": right after its n-th offset store. All land in the middle of a commit, where a kill from
// outside rarely does.
const [dir, crashAt = 'none'] = process.argv.slice(2);
const [crashStep, crashCount] = crashAt.split(':');
const dieAt = (Class, method, step, after) => {
  if (crashStep !== step) return;
  const original = Class.prototype[method];
  let calls = 0;
  Class.prototype[method] = async function (...args) {
    const last = ++calls === Number(crashCount);
    if (last && !after) process.kill(process.pid, 'SIGKILL');
    // The commit's later appends wait, so the kill after the n-th one leaves them out of their files.
    if (after && calls > Number(crashCount)) await new Promise((resolve) => setTimeout(resolve, 100));
    const result = await original.apply(this, args);
    if (last) process.kill(process.pid, 'SIGKILL');
    return result;
  };
};
dieAt(PartitionLog, 'append', 'append', false);
dieAt(PartitionLog, 'append', 'appended', true);
dieAt(GroupOffsetStore, 'save', 'offsets', true);

const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
const consumer = transport.consumer({ group: 'copier', topics: ['in'] });
const producer = transport.transactionalProducer('copier');
await producer.init();
process.stdout.write(`ready ${JSON.stringify(transport.transactionRecovery ?? null)}\n`);

let commits = 0;
for (;;) {
  const records = await consumer.poll({ maxRecords: 37, maxWaitMs: 200 });
  if (records.length === 0) break;
  const tx = await producer.begin();
  await tx.send(records.map((r) => ({ topic: 'out', key: r.key, value: r.value, headers: r.headers })));
  await tx.send([{ topic: 'tallies', key: null, value: Buffer.from(String(records.length)) }]);
  const next = new Map();
  for (const r of records) next.set(r.partition, r.offset + 1);
  await tx.sendOffsets(
    'copier',
    [...next].map(([partition, offset]) => ({ topic: 'in', partition, offset })),
  );
  await tx.commit();
  process.stdout.write(`committed ${++commits}\n`);
}
await consumer.close();
await producer.close();
await transport.close();
process.stdout.write('done\n');
