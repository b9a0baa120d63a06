export * from './plugin-context.js';
export * from './plugin-conformance.js';
export * from './transport-conformance.js';
export * from './pipeline-runner.js';
export * from './processor-exactly-once.js';
export * from './running-count-pipeline.js';
