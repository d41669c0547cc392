import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { restorePhases } from '../../src/core/model.ts';
import { cachedBackup } from '../harness/backup-cache.ts';
import { DEFAULT_STAGING_DIR } from '../harness/lab.ts';
import { createPxeNet, fixedAddress, startDhcp, type Dhcp, type PxeNet } from '../harness/pxe-net.ts';
import { startVmNode, vmImage, type VmImage, type VmNode } from '../harness/vm-node.ts';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/**
 * A restore proven the way an operator would prove it, through the public API only: a qemu VM with
 * its own disk (Debian 12, GRUB, MariaDB: scripts/vm-image.sh) is backed up for real (ansible,
 * `rear mkbackup` inside the VM), its disk is destroyed, `POST /v1/restore` boots it over the
 * network into the backup's rescue system (qemu power driver over QMP, iPXE, the daemon's own HTTP
 * boot server), ReaR recovers it unattended, and the node comes back from its own disk with its
 * files, its database rows and its host key. Then the same backup goes onto a second, blank VM with
 * another MAC and a larger disk.
 */

const MAC1 = '52:54:00:9a:00:01';
const MAC2 = '52:54:00:9a:00:02';
const GiB = 1024 ** 3;

let pxe: PxeNet;
let dhcp: Dhcp;
let image: VmImage;
let vm1: VmNode;
let ws: Workspace;
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let backup: any;
let files: string;
let rows: string;
let addresses: string[];
let vm2Qmp = '';

const inventoryFile = () => join(ws.dir, 'vm-inventory.yml');

/** The inventory: vm1 as the undercloud; vm2, never backed up, as replacement hardware (its MACs and disk size from here). */
function writeInventory(opts: { vm2DiskBytes: number }): string {
  writeFileSync(
    inventoryFile(),
    stringify({
      all: {
        children: {
          Undercloud: { hosts: { vm1: inventoryHost(addresses[0]!, vm1?.qmpSocket ?? '') } },
          Controller: {
            hosts: {
              vm2: inventoryHost(addresses[1]!, vm2Qmp, { rearguard_macs: [MAC2], rearguard_disk_bytes: opts.vm2DiskBytes }),
            },
          },
        },
      },
    }),
  );
  return inventoryFile();
}

const sumFiles = 'cd /srv/rgdata && sha256sum f*.bin';
const sumRows = `mysql -N -e 'SELECT COUNT(*), SUM(CRC32(CONCAT(id, v))) FROM rg.t'`;

/** What a node needs in the inventory: how ansible and the daemon reach it, how it is powered. */
function inventoryHost(address: string, qmpSocket: string, extra: Record<string, unknown> = {}) {
  return {
    ansible_host: address,
    ansible_user: 'root',
    ansible_ssh_private_key_file: image.privateKeyFile,
    ansible_python_interpreter: '/usr/bin/python3',
    ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
    rearguard_qmp_socket: qmpSocket,
    ...extra,
  };
}

async function ssh(vm: VmNode, command: string): Promise<string> {
  const r = await vm.ssh(command, { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`${command}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

async function waitForRestore(id: string, timeoutMs: number): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await d.json('GET', `/v1/restore/${id}`);
    if (!['queued', 'running'].includes(r.state)) return r;
    if (Date.now() > until) throw new Error(`restore ${id} still ${r.state}: ${JSON.stringify(r.phases)}`);
    await new Promise((res) => setTimeout(res, 2000));
  }
}

/** Restores the backup onto a VM; on failure, the console tail and the run's last events explain it. */
async function restoreOnto(vm: VmNode, nodeId: string, query = ''): Promise<any> {
  const { restore, run } = await d.json('POST', `/v1/restore/${backup.id}/${nodeId}${query}`, { status: 202 });
  try {
    const done = await waitForRestore(restore.id, 1_500_000);
    expect(done.error).toBeNull();
    expect(done.state).toBe('succeeded');
    return done;
  } catch (err) {
    const events = (await d.json('GET', `/v1/runs/${run.id}/events`)).events.slice(-15);
    throw new Error(
      `${(err as Error).message}\n--- events ---\n${events.map((e: any) => `${e.phase}: ${e.message}`).join('\n')}\n--- console ---\n${vm.console().slice(-5000)}`,
    );
  }
}

/** Zeroes the partition table and the start of the root partition while the VM is powered off. */
async function destroyDisk(vm: VmNode): Promise<void> {
  const table = JSON.parse(await ssh(vm, 'sfdisk -J /dev/vda')) as { partitiontable: { partitions: { start: number }[] } };
  await vm.ssh('systemctl poweroff', { timeoutMs: 30_000 }).catch(() => undefined);
  const until = Date.now() + 180_000;
  while ((await vm.status()) !== 'shutdown') {
    if (Date.now() > until) throw new Error('the VM did not power off');
    await new Promise((res) => setTimeout(res, 1000));
  }
  // qemu-io on the drive (the -drive id) writes through the block layer: into the VM's overlay, never the cached image.
  await vm.hmp('qemu-io drive0 "write -z 0 1M"');
  for (const p of table.partitiontable.partitions) await vm.hmp(`qemu-io drive0 "write -z ${p.start * 512} 16M"`);
}

/** How the VM is backed up: part of the cached backup's key. */
const backupSettings = {
  stagingDir: DEFAULT_STAGING_DIR,
  services: ['mariadb'],
  serviceManager: 'systemd',
  // The image's staging dir is a tmpfs (ReaR refuses a backup dir on /): its ~240 MB image fits.
  minFreeMB: 300,
  rear: {
    // The rescue system takes its address from the network it boots on (a new MAC, too), and
    // loads its NIC's and disk's drivers itself.
    USE_DHCLIENT: 'yes',
    MODULES_LOAD: ['e1000', 'virtio_pci', 'virtio_blk'],
    // Speed under software emulation: the tests check what comes back, not how small it was.
    BACKUP_PROG_COMPRESS_OPTIONS: ['--use-compress-program=gzip -1'],
    REAR_INITRD_COMPRESSION: 'fast',
    EXCLUDE_MD5SUM_VERIFICATION: '/lib/modules/',
    // Onto a larger disk ReaR asks to confirm its mapping; unattended, it takes the default answer after this.
    USER_INPUT_TIMEOUT: '5',
  },
};

interface BackedUp {
  backupId: string;
  files: string;
  rows: string;
}

/** The node's data (files and database rows, known before), then a backup of it through the API. */
async function backUpVm1(): Promise<BackedUp> {
  await ssh(vm1, 'mkdir -p /srv/rgdata && for i in 1 2 3; do head -c 8M /dev/urandom > /srv/rgdata/f$i.bin; done');
  const values = Array.from({ length: 500 }, (_, i) => `(${i + 1}, SHA2('row ${i + 1}', 256))`).join(',');
  await ssh(
    vm1,
    `mysql -e "CREATE DATABASE rg; CREATE TABLE rg.t (id INT PRIMARY KEY, v VARCHAR(64)); INSERT INTO rg.t VALUES ${values};"`,
  );
  const known = { files: await ssh(vm1, sumFiles), rows: await ssh(vm1, sumRows) };
  expect(known.rows.trim()).toMatch(/^500\t\d+$/);
  const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
  const run = await waitForRun(d, started.run.id, 1_500_000);
  expect(run.error).toBeNull();
  return { backupId: started.backup_ids[0], ...known };
}

beforeAll(async () => {
  [pxe, image] = await Promise.all([createPxeNet(), vmImage()]);
  addresses = [await fixedAddress(pxe, MAC1), await fixedAddress(pxe, MAC2)];
  ws = new Workspace();
  const dataDir = join(ws.dir, 'var');
  // A backup of this image with these settings is ~10 minutes of `rear mkbackup` under TCG: made
  // through the API once, then restored from the cache (test/harness/backup-cache.ts).
  const cache = await cachedBackup<BackedUp>('vm-backup', { image: basename(image.dir), backup: backupSettings });
  const cached = await cache.load({ dataDir, storage: ws.storage });
  d = await startTestDaemon(ws, {
    dataDir,
    // The VM reaches the daemon's HTTP and TFTP servers on the PXE network.
    listen: `${pxe.hostAddress}:0`,
    boot: { tftpListen: `${pxe.hostAddress}:0` },
    inventory: writeInventory({ vm2DiskBytes: 3 * GiB }),
    ansible: {},
    backup: backupSettings,
    power: { driver: 'qemu' },
    restore: { bootTimeoutSeconds: 600, rescueTimeoutSeconds: 600, recoverTimeoutSeconds: 1800, diskBootTimeoutSeconds: 900 },
  });
  dhcp = await startDhcp(pxe, { path: { kind: 'ipxe-http', scriptUrl: `${d.url}/boot/ipxe` } });
  vm1 = await startVmNode(pxe, { mac: MAC1, disk: { from: 'image' }, memoryMiB: 1024, cpus: 2 });
  writeInventory({ vm2DiskBytes: 3 * GiB });
  await vm1.waitForSsh(300_000);

  const made = cached ?? (await backUpVm1());
  if (!cached) await cache.save({ dataDir, database: join(dataDir, 'rearguard.db'), storage: ws.storage }, made);
  ({ files, rows } = made);
  backup = await d.json('GET', `/v1/backup/${made.backupId}`);
}, 2_400_000);

afterAll(async () => {
  await d?.stop();
  await dhcp?.stop();
  await pxe?.stop();
  ws?.remove();
});

describe('a proven restore', () => {
  test('the backup records the node: its MAC and the disk of its ReaR layout', () => {
    expect(backup.state).toBe('available');
    expect(backup.manifest.disks).toEqual([{ device: '/dev/vda', bytes: expect.any(Number) }]);
    expect(backup.manifest.disks[0].bytes).toBeGreaterThan(GiB);
  });

  test('wiped, restored with one API call, the node boots from its disk with its files, rows and host key', async () => {
    await destroyDisk(vm1);
    const done = await restoreOnto(vm1, 'vm1');
    // Every phase, in order, each with its time: the restore's RTO and where it went.
    const reached = restorePhases.filter((p) => done.phases[p] !== undefined);
    expect(reached).toEqual(restorePhases.filter((p) => p !== 'boot_config_fetched' || done.phases[p] !== undefined));
    const at = reached.map((p) => Date.parse(done.phases[p]));
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The figures an RTO estimate is made of: seconds from the request to each phase.
    const since = Date.parse(done.created_at);
    console.log(`restore ${done.id}: ${reached.map((p, i) => `${p} +${Math.round((at[i]! - since) / 1000)} s`).join(', ')}`);

    // The overlay's own ReaR scripts are known to the rescue system's self-check.
    expect(vm1.console()).toContain('Verifying md5sums of the files in the Relax-and-Recover rescue system');
    expect(vm1.console()).not.toContain('Possibly corrupted Relax-and-Recover rescue system');
    // waitForSsh refuses any host key but the node's own.
    await vm1.waitForSsh(60_000);
    expect(await ssh(vm1, sumFiles)).toBe(files);
    expect(await ssh(vm1, sumRows)).toBe(rows);
    expect((await ssh(vm1, 'findmnt -n -o SOURCE /')).trim()).toMatch(/^\/dev\/vda\d$/);
  }, 1_800_000);

  test('onto a second, blank VM with another MAC and a larger disk: the same node, the same data', async () => {
    const vm2 = await startVmNode(pxe, { mac: MAC2, disk: { blankMiB: 3 * 1024 }, memoryMiB: 1024, cpus: 2 });
    vm2Qmp = vm2.qmpSocket;
    writeInventory({ vm2DiskBytes: 3 * GiB });
    try {
      const done = await restoreOnto(vm2, 'vm2', '?allow_other_node=true');
      expect(done).toMatchObject({ node: 'vm2', macs: [MAC2] });
      // The restored system is vm1's: its host key (the image's) answers on vm2's address.
      await vm2.waitForSsh(60_000);
      expect(await ssh(vm2, sumFiles)).toBe(files);
      expect(await ssh(vm2, sumRows)).toBe(rows);
      // ReaR laid the layout out on the larger disk.
      expect(Number((await ssh(vm2, 'blockdev --getsize64 /dev/vda')).trim())).toBe(3 * GiB);
    } finally {
      await vm2.stop();
    }
  }, 1_800_000);

  test('a node whose disk is smaller than the layout is refused before anything is powered', async () => {
    writeInventory({ vm2DiskBytes: GiB });
    const refused = await d.json('POST', `/v1/restore/${backup.id}/vm2?allow_other_node=true`, { status: 409 });
    expect(refused.detail).toContain(`node vm2 has a disk of ${GiB} bytes`);
    expect(refused).toMatchObject({ layout_device: '/dev/vda', layout_bytes: backup.manifest.disks[0].bytes });
  });
});
