// Child process of node-failover.test.ts: a mesh node on Kafka running the testkit's running-count pipeline,
// logging JSON lines on stdout, until it is killed (or stopped with SIGTERM).
import { createLogger, MeshNode, nodeConfigFrom, SourceDocument } from '@datamesh/core';
import { runningCountPipeline } from '@datamesh/testkit';
import { KafkaTransport } from '@datamesh/transport-kafka';

const [brokers, dataDir, name, total, runs] = process.argv.slice(2);
const { plan } = await runningCountPipeline({
  name,
  packageDir: dataDir,
  total: Number(total),
  perRead: 10,
  pauseMs: 20,
  perPartition: runs === 'per-partition',
});
const kafka = { brokers: brokers.split(','), sessionTimeoutMs: 6000 };
const { config } = nodeConfigFrom(
  SourceDocument.fromValue({
    apiVersion: 'datamesh/v1',
    kind: 'Node',
    dataDir,
    http: { port: 0 },
    transport: { kind: 'kafka', partitions: 3, kafka },
    tasks: { flushIntervalMs: 200 },
  }),
  dataDir,
);
const transport = await KafkaTransport.connect(kafka);
const node = await MeshNode.start({
  config,
  plans: [plan],
  transport,
  logger: createLogger({ level: 'info' }),
});
process.on('SIGTERM', () => {
  void node.stop().then(
    () => transport.close().then(() => process.exit(0)),
    () => process.exit(1),
  );
});
