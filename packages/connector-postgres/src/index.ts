export { postgresSource, connectionConfig } from './postgres-source.js';
export { postgresConfig, type PostgresConfig } from './config.js';
