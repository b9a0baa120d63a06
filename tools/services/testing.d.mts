/** Connection facts of each service's local test instance, as its module exports them (`endpoint`). */
export interface ServiceEndpoints {
  prometheus: Record<string, never>;
  postgres: {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
    connectionString: string;
  };
  /** The same shape as `postgres`, on PostgreSQL 18. */
  'postgres-latest': ServiceEndpoints['postgres'];
  /** The same shape as `postgres`, on PostgreSQL 18 with `wal_level=replica` (logical decoding refused). */
  'postgres-replica': ServiceEndpoints['postgres'];
  mariadb: { host: string; port: number; user: string; password: string; database: string };
  kafka: {
    /** PLAINTEXT listener. */
    brokers: string[];
    /** SASL_PLAINTEXT listener with SCRAM-SHA-256 and SCRAM-SHA-512 users. */
    saslBrokers: string[];
    sasl: { username: string; password: string };
    /** SSL listener (server certificate signed by `tls.caFile`). */
    tlsBrokers: string[];
    tls: { caFile: string };
    /**
     * A PLAINTEXT listener advertised as `brokers`, where nothing listens: a test runs a TCP proxy there to
     * `proxyTo` and cuts it to make the broker unreachable.
     */
    faulty: { brokers: string[]; proxyTo: { host: string; port: number } };
    /** The jars of the broker, for the Java perf tools. */
    libDir: string;
  };
  opensearch: { url: string };
  /** A reduced Elasticsearch 8.19 node (no x-pack, painless, analysis-common, mapper-extras): see the README. */
  elasticsearch: { url: string };
  'iceberg-rest': { url: string; warehouse: string };
  cassandra: { host: string; port: number; localDataCenter: string; cdcRawDir: string };
  /**
   * A local npm registry (Verdaccio 6): packages under `localScope` (`@datamesh`) are served from its storage only
   * and can be published (with a token from PUT `-/user/org.couchdb.user:<name>`); the rest are proxied upstream.
   */
  verdaccio: { url: string; localScope: string };
}

export type ServiceName = keyof ServiceEndpoints;

/** Starts the named services unless they already answer, and returns their endpoints by name. */
export function useServices<const N extends ServiceName>(
  ...names: N[]
): Promise<{ [K in N]: ServiceEndpoints[K] }>;
