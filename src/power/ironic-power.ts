import type { PowerDriver, PowerTarget } from '../core/ports.ts';
import { runPowerCommand } from './run-power-command.ts';

/**
 * OpenStack Ironic through the openstack CLI, as on an undercloud. Credentials come from the
 * environment given in config (OS_CLOUD and a clouds.yaml), never from the command line.
 */
export function ironicPower(env: Record<string, string>): PowerDriver {
  const uuid = (node: PowerTarget) => {
    if (!node.ironicUuid) throw new Error(`node ${node.name} has no Ironic UUID (set rearguard_ironic_uuid in the inventory)`);
    return node.ironicUuid;
  };
  const baremetal = (...args: string[]) => runPowerCommand(['openstack', 'baremetal', 'node', ...args], env);
  return {
    name: 'ironic',
    async bootFromNetwork(node) {
      const id = uuid(node);
      await baremetal('boot', 'device', 'set', id, 'pxe');
      const on = (await baremetal('show', id, '-f', 'value', '-c', 'power_state')).trim() === 'power on';
      await (on ? baremetal('reboot', id) : baremetal('power', 'on', id));
    },
    async bootFromDisk(node) {
      await baremetal('boot', 'device', 'set', uuid(node), 'disk', '--persistent');
    },
  };
}
