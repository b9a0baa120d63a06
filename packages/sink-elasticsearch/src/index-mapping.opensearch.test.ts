import { OPENSEARCH } from './__fixtures__/engines.js';
import { describeMappingRoundTrip } from './__fixtures__/mapping-suite.js';

describeMappingRoundTrip(OPENSEARCH);
