export * from './alert-rules.js';
export * from './dashboard.js';
