export { filterProcessor } from './filter-processor.js';
