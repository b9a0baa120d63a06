// The postgres service (PostgreSQL 15 from Debian) end to end.
import { describePostgresService } from './postgres-checks.js';

describePostgresService('postgres', 15);
