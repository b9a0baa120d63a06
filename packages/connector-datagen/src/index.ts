export { datagenSource, ORDERS_STREAM } from './datagen-source.js';
export { OrderGenerator } from './order-generator.js';
