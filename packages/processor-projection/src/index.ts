export { projectionProcessor } from './projection-processor.js';
