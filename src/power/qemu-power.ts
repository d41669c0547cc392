import type { PowerDriver, PowerTarget } from '../core/ports.ts';
import { QmpSession } from './qmp-session.ts';

/** A node's QMP socket and the ids of its boot NIC and disk (`-device …,id=`), from its inventory variables. */
function machineOf(node: PowerTarget) {
  const socket = node.vars.rearguard_qmp_socket;
  if (typeof socket !== 'string' || socket === '') {
    throw new Error(`node ${node.name} has no rearguard_qmp_socket in the inventory`);
  }
  const id = (key: string, fallback: string) => {
    const v = node.vars[key];
    return typeof v === 'string' && v !== '' ? v : fallback;
  };
  return { socket, nic: id('rearguard_qmp_nic', 'nic0'), disk: id('rearguard_qmp_disk', 'disk0') };
}

type Machine = ReturnType<typeof machineOf>;

/**
 * Puts `first` ahead of `second` in the firmware's boot order (their `bootindex`, read again by
 * the firmware at the next reset). Two devices may never share an index, so both move to free
 * values before they take their places.
 */
async function bootOrder(qmp: QmpSession, first: string, second: string): Promise<void> {
  const set = (id: string, value: number) =>
    qmp.execute('qom-set', { path: `/machine/peripheral/${id}`, property: 'bootindex', value });
  await set(first, 9);
  await set(second, 8);
  await set(first, 1);
  await set(second, 2);
}

async function withQmp<T>(m: Machine, step: (qmp: QmpSession) => Promise<T>): Promise<T> {
  const qmp = await QmpSession.open(m.socket);
  try {
    return await step(qmp);
  } finally {
    qmp.close();
  }
}

/**
 * Power control of qemu machines through their QMP sockets: a lab's or a test cloud's virtual
 * nodes, the way Ironic's virtual BMCs drive them. Network boot puts the NIC first and resets the
 * machine (or powers it on, when it was shut down with `-no-shutdown`); disk boot puts the disk
 * first and leaves the reboot to the node (ReaR reboots after an unattended recover).
 */
export const qemuPower: PowerDriver = {
  name: 'qemu',
  async bootFromNetwork(node) {
    const m = machineOf(node);
    await withQmp(m, async (qmp) => {
      await bootOrder(qmp, m.nic, m.disk);
      const { status } = (await qmp.execute('query-status')) as { status: string };
      await qmp.execute('system_reset');
      if (status !== 'running') await qmp.execute('cont');
    });
  },
  async bootFromDisk(node) {
    const m = machineOf(node);
    await withQmp(m, (qmp) => bootOrder(qmp, m.disk, m.nic));
  },
};
