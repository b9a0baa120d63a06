import type { Hook } from '@oclif/core';
import { contractRefusal, npmView } from '../plugin-contract.js';

/**
 * Runs before `mesh plugins install` (@oclif/plugin-plugins) installs anything: reads the `datamesh.contract` of
 * the version npm would install from the registry npm uses, and refuses a plugin built for a contract this mesh
 * does not implement, saying which versions fit. Git URLs cannot be read before installing; the registry refuses
 * those when a node loads them (`mesh plugins check` shows why).
 */
const hook: Hook<'plugins:preinstall'> = async function (options) {
  const { plugin, config } = options;
  if (plugin.type !== 'npm') return;
  const refusal = await contractRefusal(
    plugin.name,
    plugin.tag,
    npmView({ registry: config.npmRegistry, cwd: config.dataDir }),
    undefined,
    config.bin,
  );
  if (refusal !== undefined) this.error(refusal, { exit: 2 }); // 2: what was asked for is refused (EXIT.invalid)
};

export default hook;
