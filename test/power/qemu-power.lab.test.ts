import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PowerTarget } from '../../src/core/ports.ts';
import { qemuPower } from '../../src/power/qemu-power.ts';
import { QmpSession } from '../../src/power/qmp-session.ts';

/**
 * The qemu power driver against a real qemu: a machine with an e1000 NIC and a virtio disk, held
 * before its first instruction (-S) or shut down (-no-shutdown), so that only what QMP reports
 * about boot order and run state is looked at. Whether a firmware then boots the NIC is the
 * proven-restore file's to show.
 */
const dir = mkdtempSync(join(tmpdir(), 'rearguard-qmp-'));
const socket = join(dir, 'qmp.sock');
let qemu: ResultPromise;
const node: PowerTarget = { name: 'vm', macs: ['52:54:00:12:34:56'], ironicUuid: null, vars: { rearguard_qmp_socket: socket } };

async function query<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  const qmp = await QmpSession.open(socket);
  try {
    return (await qmp.execute(command, args)) as T;
  } finally {
    qmp.close();
  }
}
const bootindex = (id: string) => query<number>('qom-get', { path: `/machine/peripheral/${id}`, property: 'bootindex' });
const status = async () => (await query<{ status: string }>('query-status')).status;

beforeAll(async () => {
  await execa(resolve(import.meta.dirname, '../../scripts/apt-install.sh'), ['qemu-system-x86', 'qemu-utils'], {
    stdin: 'ignore',
  });
  await execa('qemu-img', ['create', '-f', 'raw', join(dir, 'disk.raw'), '16M']);
  qemu = execa(
    'qemu-system-x86_64',
    [
      ...['-nodefaults', '-machine', 'pc,accel=tcg', '-display', 'none', '-S', '-no-shutdown'],
      ...['-qmp', `unix:${socket},server=on,wait=off`],
      ...['-netdev', 'user,id=n0', '-device', 'e1000,netdev=n0,id=nic0,bootindex=2'],
      ...[
        '-drive',
        `file=${join(dir, 'disk.raw')},format=raw,if=none,id=d0`,
        '-device',
        'virtio-blk-pci,drive=d0,id=disk0,bootindex=1',
      ],
    ],
    { reject: false, cleanup: true },
  );
  for (let i = 0; ; i++) {
    try {
      await status();
      break;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

afterAll(async () => {
  qemu?.kill('SIGKILL');
  await qemu;
  rmSync(dir, { recursive: true, force: true });
});

describe('qemu power driver', () => {
  test('network boot puts the NIC ahead of the disk and starts the machine; disk boot puts the disk first again', async () => {
    expect(await status()).toBe('prelaunch');
    await qemuPower.bootFromNetwork(node);
    expect([await bootindex('nic0'), await bootindex('disk0')]).toEqual([1, 2]);
    expect(await status()).toBe('running');

    await qemuPower.bootFromDisk(node);
    expect([await bootindex('disk0'), await bootindex('nic0')]).toEqual([1, 2]);
    // Disk boot leaves the reboot to the node (ReaR reboots after its recover).
    expect(await status()).toBe('running');
  });

  test('a machine that was shut down is powered on by a network boot', async () => {
    await query('stop');
    await query('system_powerdown').catch(() => undefined);
    // A guest poweroff under -no-shutdown leaves qemu in 'shutdown'; a stopped machine stands in for it here.
    expect(['paused', 'shutdown']).toContain(await status());
    await qemuPower.bootFromNetwork(node);
    expect(await status()).toBe('running');
  });

  test('a node without a QMP socket, or with a dead one, is a clear error', async () => {
    await expect(qemuPower.bootFromNetwork({ ...node, vars: {} })).rejects.toThrow(
      'node vm has no rearguard_qmp_socket in the inventory',
    );
    await expect(qemuPower.bootFromDisk({ ...node, vars: { rearguard_qmp_socket: join(dir, 'none.sock') } })).rejects.toThrow(
      /QMP .*none\.sock: .*ENOENT/,
    );
  });
});
