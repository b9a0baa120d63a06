// The package's entry (`datamesh.entry` in package.json points at its build): export the plugin value.
export { __EXPORT__ } from './__NAME__-processor.js';
