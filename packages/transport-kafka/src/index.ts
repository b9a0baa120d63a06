// First: kafkajs must find the linear grouping in its module cache when it loads (see the module).
import './kafkajs-linear-grouping.js';
export { KafkaTransport } from './kafka-transport.js';
export type { Compression, KafkaTransportOptions, SaslOptions, TlsOptions } from './kafka-options.js';
export { KafkaTransportError } from './kafka-errors.js';
