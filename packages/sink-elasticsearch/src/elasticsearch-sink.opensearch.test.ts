import { OPENSEARCH } from './__fixtures__/engines.js';
import { describeSinkIntegration } from './__fixtures__/sink-suite.js';

describeSinkIntegration(OPENSEARCH);
