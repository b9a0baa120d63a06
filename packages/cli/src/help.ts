import { Help } from '@oclif/core';

/** Root help that lists every command (topics alone hide `node start`, `pipeline validate`, …). */
export default class MeshHelp extends Help {
  protected override async showRootHelp(): Promise<void> {
    this.log(this.formatRoot());
    this.log('');
    const commands = this.sortedCommands.filter((c) => !c.hidden && c.id !== 'help');
    this.log(this.formatCommands(commands));
    this.log('');
    this.log(`Run \`${this.config.bin} COMMAND --help\` for a command's flags and examples.`);
  }
}
