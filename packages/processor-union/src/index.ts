export { unionProcessor } from './union-processor.js';
