import { describeConformance } from './__fixtures__/conformance-suite.js';
import { ELASTICSEARCH } from './__fixtures__/engines.js';

describeConformance(ELASTICSEARCH);
