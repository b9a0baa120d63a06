export { shoutProcessor } from '../shout-processor/index.js';
