import { ELASTICSEARCH } from './__fixtures__/engines.js';
import { describeEngineOutage } from './__fixtures__/outage-suite.js';

describeEngineOutage(ELASTICSEARCH);
