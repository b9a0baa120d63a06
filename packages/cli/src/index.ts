export { MeshCommand, EXIT } from './base-command.js';
export { loadPlugins } from './plugin-loader.js';
