export { maskProcessor } from './mask-processor.js';
