import { readFileSync } from 'node:fs';
import type { PowerDriver, PowerTarget } from '../core/ports.ts';
import { runPowerCommand } from './run-power-command.ts';

/**
 * IPMI through ipmitool: the node's BMC from its inventory variables `rearguard_ipmi_address` and
 * `rearguard_ipmi_user`; the password from a file, handed over as IPMI_PASSWORD (`-E`).
 */
export function ipmiPower(opts: { interface: string; passwordFile: string }): PowerDriver {
  const bmc = (node: PowerTarget) => {
    const address = node.vars.rearguard_ipmi_address;
    if (typeof address !== 'string' || address === '') {
      throw new Error(`node ${node.name} has no rearguard_ipmi_address in the inventory`);
    }
    const user = typeof node.vars.rearguard_ipmi_user === 'string' ? node.vars.rearguard_ipmi_user : 'root';
    const password = readFileSync(opts.passwordFile, 'utf8').trim();
    const ipmitool = (...args: string[]) =>
      runPowerCommand(['ipmitool', '-I', opts.interface, '-H', address, '-U', user, '-E', ...args], { IPMI_PASSWORD: password });
    return ipmitool;
  };
  return {
    name: 'ipmi',
    async bootFromNetwork(node) {
      const ipmitool = bmc(node);
      await ipmitool('chassis', 'bootdev', 'pxe');
      const status = await ipmitool('chassis', 'power', 'status');
      await ipmitool('chassis', 'power', /\bon\b/.test(status) ? 'cycle' : 'on');
    },
    async bootFromDisk(node) {
      await bmc(node)('chassis', 'bootdev', 'disk', 'options=persistent');
    },
  };
}
