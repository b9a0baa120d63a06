/**
 * The plugin contract version. A plugin records the version it was built against; the registry
 * accepts it when the major matches and the plugin's minor is not newer than ours.
 */
// 1.1: `ProcessorTask.process` is told the input of its events; `ProcessorPlan.consumes` lists the fields read.
// 1.2: a processor may run as parts joined by internal topics (`ProcessorPlugin.expand`).
export const CONTRACT_VERSION = '1.2.0';

/** The brand carried by every plugin value. Discovery checks it, never `instanceof`. */
export const PLUGIN_BRAND = '@datamesh/Plugin';
