import type { PowerDriver, PowerTarget } from '../core/ports.ts';
import { runPowerCommand } from './run-power-command.ts';

/**
 * Power control by commands of the operator's own (a site's own tooling, or a test's VM): each
 * gets the node in its environment: RG_NODE, RG_MACS (comma-separated), RG_IRONIC_UUID.
 */
export function commandPower(commands: { network: string[]; disk?: string[] }): PowerDriver {
  const env = (node: PowerTarget) => ({
    RG_NODE: node.name,
    RG_MACS: node.macs.join(','),
    RG_IRONIC_UUID: node.ironicUuid ?? '',
  });
  return {
    name: 'command',
    bootFromNetwork: async (node) => void (await runPowerCommand(commands.network, env(node))),
    bootFromDisk: async (node) => {
      if (commands.disk) await runPowerCommand(commands.disk, env(node));
    },
  };
}
