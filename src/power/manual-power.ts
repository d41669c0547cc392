import type { PowerDriver } from '../core/ports.ts';

/** No power control: the operator restarts the node into its network boot; the restore follows it from there. */
export const manualPower: PowerDriver = {
  name: 'manual',
  instructions: 'restart the node now and let it boot from the network (PXE); the restore waits for it',
  bootFromNetwork: async () => undefined,
  bootFromDisk: async () => undefined,
};
