import { describeConformance } from './__fixtures__/conformance-suite.js';
import { OPENSEARCH } from './__fixtures__/engines.js';

describeConformance(OPENSEARCH);
