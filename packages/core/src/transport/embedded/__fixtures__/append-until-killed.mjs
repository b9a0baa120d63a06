// Child process of crash-recovery.test.ts: appends to the embedded transport until it is killed, printing
// "<seq> <partition> <offset>" for every record once its send() resolved.
// It runs the TypeScript sources directly (Node strips the types); this hook maps their `.js` import
// specifiers to the `.ts` files next to them.
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw error;
    }
  },
});

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
