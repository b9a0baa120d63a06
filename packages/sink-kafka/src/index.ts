export { kafkaSink, kafkaSinkOutputs, transactionalIdOf } from './kafka-sink.js';
export { kafkaSinkConfig, type KafkaSinkConfig } from './sink-config.js';
