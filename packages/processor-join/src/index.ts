export { joinProcessor } from './join-processor.js';
export { joinConfig, type JoinConfig } from './join-config.js';
