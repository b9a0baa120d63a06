// Child process of crash-recovery.test.ts: appends to the embedded transport until it is killed, printing
// "<seq> <partition> <offset>" for every record once its send() resolved.
// It runs the TypeScript sources directly (see ts-sources.mjs).
import './ts-sources.mjs';

const { EmbeddedTransport } = await import('../embedded-transport.ts');

const [dir, startSeqArg] = process.argv.slice(2);
let seq = Number(startSeqArg ?? 0);
const transport = await EmbeddedTransport.open({ dir, fsync: 'never' });
await transport.ensureTopic('crash', { partitions: 3 });
const producer = transport.producer();

export function valueOf(n) {
  return `value-${n}-`.padEnd(100 + (n % 200), 'x');
}

async function sendLoop() {
  for (;;) {
    const batch = Array.from({ length: 40 }, () => {
      const n = seq++;
      return {
        topic: 'crash',
        key: Buffer.from(`key-${n % 17}`),
        value: Buffer.from(valueOf(n)),
        headers: { seq: String(n) },
      };
    });
    const metadata = await producer.send(batch);
    process.stdout.write(
      metadata.map((m, i) => `${batch[i].headers.seq} ${m.partition} ${m.offset}\n`).join(''),
    );
  }
}

process.stdout.write('ready\n');
// Several sends in flight at once, as a busy node has, so the kill can land in the middle of any of them.
await Promise.all([sendLoop(), sendLoop(), sendLoop(), sendLoop()]);
