// Child process of kafka-crash.test.ts: writes one committed transaction, then opens a second one, sends a
// batch into it, says so on stdout and waits to be killed with the transaction still open.
import { KafkaTransport } from '@datamesh/transport-kafka';

const [brokers, topic, transactionalId] = process.argv.slice(2);
const transport = await KafkaTransport.connect({ brokers: brokers.split(','), retries: 2 });
const producer = transport.transactionalProducer(transactionalId);
const committed = await producer.begin();
await committed.send(
  Array.from({ length: 50 }, (_, i) => ({
    topic,
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`committed-${i}`),
  })),
);
await committed.commit();
const open = await producer.begin();
await open.send(
  Array.from({ length: 500 }, (_, i) => ({
    topic,
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`partial-${i}`),
  })),
);
process.stdout.write('sent\n');
setInterval(() => {}, 1000);
