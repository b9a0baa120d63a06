export { EmbeddedTransport } from './embedded-transport.js';
export type {
  EmbeddedTransportOptions,
  MaintenanceReport,
  TopicRecoveryReport,
} from './embedded-transport.js';
export type { FsyncPolicy, RecoveryReport } from './partition-log.js';
export { DirLockedError } from './dir-lock.js';
export { copartitionedAssignment, RebalancedError } from './consumer-group.js';
export { ProducerFencedError } from './embedded-transaction.js';
export type { TransactionRecovery } from './transaction-journal.js';
export { CorruptLogError } from './segment.js';
