import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_STAGING_DIR, startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { labRearSettings } from '../harness/rear.ts';
import { createPxeNet, startDhcp, type BootPath, type PxeNet } from '../harness/pxe-net.ts';
import { startPxeVm, type PxeVm } from '../harness/pxe-vm.ts';
import { startTestDaemon, waitForFile, waitForRun, Workspace } from '../harness/test-daemon.ts';

/**
 * A restore end to end: a real ReaR backup of a lab node, then `POST /v1/restore/{id}/{nodeid}`
 * boots a qemu VM (the node's replacement hardware, with its MAC) on a network the test makes,
 * DHCP from dnsmasq, boot files from the daemon's own TFTP and HTTP servers. The VM's serial
 * console must show the rescue system of that very backup, and the rescue system's hook must
 * reach the daemon. This file boots by pxelinux over the daemon's TFTP server; the iPXE-over-HTTP
 * path, all the way to the node booting from its restored disk, is proven-restore's.
 */

let lab: Lab;
let node: LabNode;
let pxe: PxeNet;
let ws: Workspace;
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let backupId: string;
let mac: string;
const powerFile = () => join(ws.dir, 'power-on');

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: true, groups: ['Undercloud'], mariadb: false });
  node = lab.nodes[0]!;
  pxe = await createPxeNet();
  ws = new Workspace();
  d = await startTestDaemon(ws, {
    // The VM reaches the daemon's HTTP and TFTP servers on the PXE network; firmware asks TFTP on port 69.
    listen: `${pxe.hostAddress}:0`,
    boot: { tftpListen: `${pxe.hostAddress}:69` },
    inventory: lab.inventoryFile,
    ansible: {},
    backup: {
      stagingDir: DEFAULT_STAGING_DIR,
      rear: {
        ...(await labRearSettings(node)),
        // The rescue system needs its NIC's driver (loaded at boot: its udevd does not start in this
        // VM) and an address on the network it boots from.
        MODULES: ['all_modules'],
        MODULES_LOAD: ['e1000'],
        USE_DHCLIENT: 'yes',
        // Software emulation is slow: the rescue system checks its own files, but not its 100 MB of modules.
        EXCLUDE_MD5SUM_VERIFICATION: '/lib/modules/',
      },
    },
    power: { driver: 'command', command: { network: ['touch', powerFile()], disk: ['rm', '-f', powerFile()] } },
    restore: { bootTimeoutSeconds: 300, rescueTimeoutSeconds: 300, recoverTimeoutSeconds: 600 },
  });
  const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
  const run = await waitForRun(d, started.run.id, 900_000);
  expect(run.error).toBeNull();
  backupId = started.backup_ids[0];
  const nodes = await d.json('GET', '/v1/nodes');
  mac = nodes.nodes.find((n: { name: string }) => n.name === node.name).macs[0];
  expect(mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
}, 1_200_000);

afterAll(async () => {
  await d?.stop();
  await pxe?.stop();
  await lab?.stop();
  ws?.remove();
});

async function waitForRestore(id: string, pred: (r: any) => boolean, timeoutMs: number): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await d.json('GET', `/v1/restore/${id}`);
    if (pred(r)) return r;
    if (Date.now() > until) throw new Error(`restore ${id}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Restores the backup onto the VM by the given boot path; returns the restore once its rescue system has fetched what it needs. */
async function restoreOntoVm(path: BootPath, until: 'rescue_booted') {
  const dhcp = await startDhcp(pxe, { mac, path });
  let vm: PxeVm | undefined;
  try {
    const { restore, run } = await d.json('POST', `/v1/restore/${backupId}/${node.name}`, { status: 202 });
    // The command power driver "powers on" the node: here, the test starts the VM.
    await waitForFile(powerFile(), 60_000);
    vm = await startPxeVm(pxe, { mac, memoryMiB: 2048 });
    const banner = await vm.waitForConsole(
      new RegExp(`Rearguard restore ${restore.id}: backup ${backupId} of ${node.name}`),
      400_000,
    );
    expect(banner).toContain(`Rearguard restore ${restore.id}`);
    await vm.waitForConsole(/Relax-and-Recover rescue system is ready/, 300_000);
    const reached = await waitForRestore(restore.id, (r) => r.phases[until] !== undefined || r.state !== 'running', 300_000);
    expect(reached.phases[until], `${until}: ${reached.error}`).toBeDefined();
    return { restore: reached, run, vm, dhcp };
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n--- console ---\n${vm?.console().slice(-4000)}\n--- dhcp ---\n${dhcp.log().slice(-2000)}`,
    );
  } finally {
    await vm?.stop();
    await dhcp.stop();
  }
}

async function bootConfigsGone(restoreId: string) {
  const tftp = await execa(
    'tftp',
    ['-m', 'binary', pxe.hostAddress, '69', '-c', 'get', `pxelinux.cfg/01-${mac.replaceAll(':', '-')}`, join(ws.dir, 'cfg')],
    {
      reject: false,
      timeout: 20_000,
    },
  );
  expect(tftp.stdout + tftp.stderr).toMatch(/Error code 1|File not found/i);
  expect((await fetch(`${d.url}/boot/ipxe/${mac.replaceAll(':', '-')}`)).status).toBe(404);
  expect((await fetch(`${d.url}/boot/${restoreId}/files/kernel`)).status).toBe(404);
}

describe('POST /v1/restore/{id}/{nodeid} boots a VM into the backup’s rescue system', () => {
  test('pxelinux over TFTP: the same backup boots through the daemon’s TFTP server', async () => {
    const { restore, run } = await restoreOntoVm(
      { kind: 'pxelinux-tftp', tftpServer: pxe.hostAddress, bootfile: 'pxelinux.0' },
      'rescue_booted',
    );
    const events = (await d.json('GET', `/v1/runs/${run.id}/events`)).events;
    expect(events.find((e: { phase: string }) => e.phase === 'kernel_fetched').message).toMatch(/^tftp: kernel sent to /);
    expect(events.find((e: { phase: string }) => e.phase === 'initrd_fetched').message).toMatch(/^tftp: initrd\.cgz sent to /);
    await d.request('POST', `/v1/runs/${run.id}/cancel`);
    const done = await waitForRestore(restore.id, (r) => r.state !== 'running', 60_000);
    expect(['cancelled', 'failed']).toContain(done.state);
    expect(done.phases.cleaned_up).toBeDefined();
    await bootConfigsGone(restore.id);
  }, 1_200_000);
});
