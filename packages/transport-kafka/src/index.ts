export { KafkaTransport } from './kafka-transport.js';
export type { Compression, KafkaTransportOptions, SaslOptions, TlsOptions } from './kafka-options.js';
export { KafkaTransportError } from './kafka-errors.js';
