import type { Config } from '../config.ts';
import type { PowerDriver } from '../core/ports.ts';
import { commandPower } from './command-power.ts';
import { ipmiPower } from './ipmi-power.ts';
import { ironicPower } from './ironic-power.ts';
import { manualPower } from './manual-power.ts';
import { qemuPower } from './qemu-power.ts';

/** The power driver the config names. */
export function openPower(power: Config['power']): PowerDriver {
  switch (power.driver) {
    case 'manual':
      return manualPower;
    case 'command':
      return commandPower(power.command!);
    case 'ipmi':
      return ipmiPower(power.ipmi!);
    case 'ironic':
      return ironicPower(power.ironic.env);
    case 'qemu':
      return qemuPower;
  }
}
