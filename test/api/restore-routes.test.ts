import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newId } from '../../src/core/ids.ts';
import { startTestDaemon, waitForFile, waitForRun, Workspace } from '../harness/test-daemon.ts';

/**
 * The restore API against the real HTTP and TFTP servers: backups come from the fixture playbook
 * (small kernel, initrd and archive), the "booting node" is the real tftp-hpa client fetching
 * what its firmware would, and the rescue system's reports are the HTTP calls its hook makes.
 */
// Letters in it keep YAML 1.1 (ansible's inventory parser) from reading a MAC of digits as a base-60 number.
const MAC = '52:54:00:ab:cd:ef';
const hosts = {
  undercloud: { undercloud: { fixture_macs: [MAC], rearguard_ironic_uuid: '6f0a4cc2-5bb1-4a5e-9d6e-2b1d0c1f9a77' } },
  overcloud: { ctl0: { fixture_macs: ['52:54:00:00:00:0a'] }, ctl1: {} },
};
const ws = new Workspace(hosts);
const powerLog = join(ws.dir, 'power.log');
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let backupId: string;
let ctl0Backup: string;
let ctl1Backup: string;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const power = (what: string) => ['sh', '-c', `echo "${what} $RG_NODE $RG_MACS $RG_IRONIC_UUID" >> '${powerLog}'`];

beforeAll(async () => {
  d = await startTestDaemon(ws, {
    power: { driver: 'command', command: { network: power('network'), disk: power('disk') } },
    restore: { bootTimeoutSeconds: 8, rescueTimeoutSeconds: 30, recoverTimeoutSeconds: 30, diskBootTimeoutSeconds: 5 },
  });
  const uc = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
  const oc = await d.json('POST', '/v1/backup/overcloud', { status: 202 });
  expect((await waitForRun(d, uc.run.id)).state).toBe('succeeded');
  expect((await waitForRun(d, oc.run.id)).state).toBe('succeeded');
  backupId = uc.backup_ids[0];
  const ocBackups = await Promise.all(oc.backup_ids.map((id: string) => d.json('GET', `/v1/backup/${id}`)));
  ctl0Backup = ocBackups.find((b) => b.node === 'ctl0').id;
  ctl1Backup = ocBackups.find((b) => b.node === 'ctl1').id;
}, 120_000);
afterAll(async () => {
  await d?.stop();
  ws.remove();
});

/** What a node's firmware does: fetch a file from the daemon's TFTP server with tftp-hpa. */
async function tftpGet(file: string): Promise<Buffer | null> {
  const out = join(ws.dir, `tftp-${Math.random().toString(36).slice(2)}`);
  const r = await execa('tftp', ['-m', 'binary', d.tftp.host, String(d.tftp.port), '-c', 'get', file, out], {
    reject: false,
    timeout: 20_000,
  });
  const ok = r.exitCode === 0 && !/Error|Transfer timed out/i.test(r.stdout + r.stderr) && existsSync(out);
  return ok ? readFileSync(out) : null;
}

async function waitForRestore(id: string, timeoutMs = 60_000): Promise<any> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await d.json('GET', `/v1/restore/${id}`, { role: 'reader' });
    if (!['queued', 'running'].includes(r.state)) return r;
    if (Date.now() > until) throw new Error(`restore ${id} still ${r.state}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function waitForPhase(id: string, phase: string): Promise<void> {
  const until = Date.now() + 30_000;
  while (!(await d.json('GET', `/v1/restore/${id}`)).phases[phase]) {
    if (Date.now() > until) throw new Error(`restore ${id} never reached ${phase}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const pxelinuxConfig = `pxelinux.cfg/01-${MAC.replaceAll(':', '-')}`;

describe('POST /v1/restore/{id}/{nodeid}', () => {
  test('boots the node into the backup: staged files over TFTP and HTTP, rescue reports, then everything removed', async () => {
    const res = await d.request('POST', `/v1/restore/${backupId}/undercloud`, { role: 'operator' });
    expect(res.status).toBe(202);
    const { restore, run } = await res.json();
    expect(res.headers.get('location')).toBe(`/v1/restore/${restore.id}`);
    expect(restore).toMatchObject({ backup_id: backupId, node: 'undercloud', macs: [MAC], requested_by: 'operator-client' });
    expect(run).toMatchObject({ kind: 'restore', target: 'node:undercloud' });
    await waitForPhase(restore.id, 'power_on');
    expect(readFileSync(powerLog, 'utf8')).toContain(`network undercloud ${MAC} 6f0a4cc2-5bb1-4a5e-9d6e-2b1d0c1f9a77`);

    // The firmware's view: its pxelinux config names this restore's kernel and initrds, with `unattended`.
    const config = (await tftpGet(pxelinuxConfig))!.toString();
    expect(config).toContain(`KERNEL rearguard/${restore.id}/kernel`);
    expect(config).toContain(`initrd=rearguard/${restore.id}/initrd.cgz,rearguard/${restore.id}/rearguard.cpio`);
    expect(config).toMatch(/APPEND .*\bunattended\b/);
    const backup = await d.json('GET', `/v1/backup/${backupId}`);
    const artefact = (name: string) => backup.manifest.artefacts.find((a: { name: string }) => a.name === name);
    expect(sha256((await tftpGet(`rearguard/${restore.id}/kernel`))!)).toBe(artefact('kernel').sha256);
    const ipxe = await (await fetch(`${d.url}/boot/ipxe/${MAC.replaceAll(':', '-')}`)).text();
    expect(ipxe).toContain(`kernel ${d.url}/boot/${restore.id}/files/kernel`);
    const initrd = Buffer.from(await (await fetch(`${d.url}/boot/${restore.id}/files/initrd.cgz`)).arrayBuffer());
    expect(sha256(initrd)).toBe(artefact('initrd.cgz').sha256);
    // iPXE and firmware ask for ranges.
    const part = await fetch(`${d.url}/boot/${restore.id}/files/initrd.cgz`, { headers: { range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(initrd.subarray(100, 200));
    const overlay = await fetch(`${d.url}/boot/${restore.id}/files/rearguard.cpio`);
    expect(
      Buffer.from(await overlay.arrayBuffer())
        .subarray(0, 6)
        .toString(),
    ).toBe('070701');

    // The rescue system's hook: it boots, fetches the archive, recovers.
    expect((await fetch(`${d.url}/boot/${restore.id}/report/rescue_booted`, { method: 'POST' })).status).toBe(204);
    const archive = Buffer.from(await (await fetch(`${d.url}/boot/${restore.id}/archive`)).arrayBuffer());
    expect(sha256(archive)).toBe(artefact('backup.tar.gz').sha256);
    await fetch(`${d.url}/boot/${restore.id}/report/archive_fetched`, { method: 'POST' });
    await fetch(`${d.url}/boot/${restore.id}/report/recovered`, { method: 'POST' });

    const done = await waitForRestore(restore.id);
    expect(done.state).toBe('succeeded');
    expect(done.error).toBeNull();
    expect(Object.keys(done.phases)).toEqual([
      'staged',
      'power_on',
      'boot_config_fetched',
      'kernel_fetched',
      'initrd_fetched',
      'rescue_booted',
      'archive_fetched',
      'recovered',
      'booted_from_disk',
      'cleaned_up',
    ]);
    expect(readFileSync(powerLog, 'utf8')).toContain('disk undercloud');
    // Nothing of the restore is served any more: the node will not boot the rescue image again.
    expect(await tftpGet(pxelinuxConfig)).toBeNull();
    expect(await tftpGet(`rearguard/${restore.id}/kernel`)).toBeNull();
    expect((await fetch(`${d.url}/boot/ipxe/${MAC.replaceAll(':', '-')}`)).status).toBe(404);
    expect((await fetch(`${d.url}/boot/${restore.id}/archive`)).status).toBe(404);
    expect((await fetch(`${d.url}/boot/${restore.id}/report/recovered`, { method: 'POST' })).status).toBe(404);

    const events = (await d.json('GET', `/v1/runs/${run.id}/events`)).events;
    expect(events.map((e: { phase: string }) => e.phase)).toEqual(
      expect.arrayContaining(['staged', 'kernel_fetched', 'booted_from_disk', 'cleaned_up']),
    );
    // Recovered, the node was sent to its disk, and it was seen there (the local node: the daemon's own host).
    const onDisk = events
      .filter((e: { phase: string }) => e.phase === 'booted_from_disk')
      .map((e: { message: string }) => e.message);
    expect(onDisk[0]).toBe('command: undercloud set to boot from its disk; its boot configs now boot it locally');
    expect(onDisk[1]).toMatch(/^undercloud answers from its restored disk \(root .+\) with the host key of undercloud$/);
    expect(events.find((e: { phase: string }) => e.phase === 'kernel_fetched').message).toMatch(
      /^tftp: kernel sent to 127\.0\.0\.1/,
    );
  });

  test('onto new hardware declared in the inventory (rearguard_macs); a disk too small for the layout is a 409 before anything is powered', async () => {
    const spareMac = '52:54:00:ab:00:01';
    ws.setHosts({
      ...hosts,
      overcloud: {
        ...hosts.overcloud,
        spare: {
          rearguard_macs: [spareMac.toUpperCase()],
          rearguard_disk_bytes: 4294967296,
          rearguard_ironic_uuid: '0d6c1f2e-7a43-4b55-9c1e-5a2f8e3b7c10',
        },
        small: { rearguard_macs: '52:54:00:ab:00:02', rearguard_disk_bytes: 1073741824 },
      },
    });
    const powered = readFileSync(powerLog, 'utf8');
    const small = await d.json('POST', `/v1/restore/${backupId}/small?allow_other_node=true`, { status: 409 });
    expect(small.detail).toBe(
      `node small has a disk of 1073741824 bytes (rearguard_disk_bytes), smaller than the 2147483648 bytes of /dev/vda in the layout of backup ${backupId}: ReaR cannot recreate it there`,
    );
    expect(small).toMatchObject({ node: 'small', disk_bytes: 1073741824, layout_device: '/dev/vda', layout_bytes: 2147483648 });
    expect(readFileSync(powerLog, 'utf8')).toBe(powered);

    const { restore } = await d.json('POST', `/v1/restore/${backupId}/spare?allow_other_node=true`, { status: 202 });
    expect(restore).toMatchObject({ node: 'spare', macs: [spareMac] });
    await waitForPhase(restore.id, 'power_on');
    // Its Ironic UUID, from the inventory too, reaches the power driver.
    expect(readFileSync(powerLog, 'utf8')).toContain(`network spare ${spareMac} 0d6c1f2e-7a43-4b55-9c1e-5a2f8e3b7c10`);
    await tftpGet(`rearguard/${restore.id}/initrd.cgz`);
    for (const what of ['rescue_booted', 'recovered'])
      await fetch(`${d.url}/boot/${restore.id}/report/${what}`, { method: 'POST' });
    const done = await waitForRestore(restore.id);
    expect(done).toMatchObject({ state: 'succeeded', node: 'spare' });
    expect(done.phases.booted_from_disk).toBeDefined();
    ws.setHosts(hosts);
  });

  test('a recovered node that never answers from its disk fails the restore in booted_from_disk, saying why', async () => {
    const silentMac = '52:54:00:ab:00:03';
    // Nothing listens on port 9 of loopback: every attempt is refused.
    const silent = { rearguard_macs: [silentMac], ansible_connection: 'ssh', ansible_host: '127.0.0.1', ansible_port: 9 };
    ws.setHosts({ ...hosts, overcloud: { ...hosts.overcloud, silent } });
    const { restore } = await d.json('POST', `/v1/restore/${backupId}/silent?allow_other_node=true`, { status: 202 });
    await waitForPhase(restore.id, 'power_on');
    await tftpGet(`rearguard/${restore.id}/initrd.cgz`);
    for (const what of ['rescue_booted', 'recovered'])
      await fetch(`${d.url}/boot/${restore.id}/report/${what}`, { method: 'POST' });
    // While it is awaited, the node's configs boot it locally, so that a firmware trying the network first does not loop.
    // The configs are rewritten one after another: wait for both, each read the way the node would.
    const pxelinux = `pxelinux.cfg/01-${silentMac.replaceAll(':', '-')}`;
    const ipxe = `${d.url}/boot/ipxe/${silentMac.replaceAll(':', '-')}`;
    const bootsLocally = async () =>
      !!(await tftpGet(pxelinux))?.toString().includes('LOCALBOOT 0') && /^exit$/m.test(await (await fetch(ipxe)).text());
    const until = Date.now() + 5000;
    while (!(await bootsLocally())) {
      if (Date.now() > until) throw new Error(`${pxelinux} and ${ipxe} never both became a local boot`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const done = await waitForRestore(restore.id);
    expect(done).toMatchObject({ state: 'failed', failed_phase: 'booted_from_disk' });
    expect(done.error).toMatch(
      /^booted_from_disk: 127\.0\.0\.1 did not answer from its restored disk within 5 s \(last: .*ECONNREFUSED.*\)$/,
    );
    expect(done.phases.cleaned_up).toBeDefined();
    expect(await tftpGet(pxelinux)).toBeNull();
    ws.setHosts(hosts);
  });

  test('a node that never fetches its initrd fails the restore in that phase; its configs are removed', async () => {
    const { restore } = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 202 });
    await waitForPhase(restore.id, 'power_on');
    expect(await tftpGet(pxelinuxConfig)).not.toBeNull();
    const done = await waitForRestore(restore.id);
    expect(done).toMatchObject({ state: 'failed', failed_phase: 'initrd_fetched' });
    expect(done.error).toMatch(/^initrd_fetched: no initrd fetched within 8 s/);
    expect(done.phases.cleaned_up).toBeDefined();
    expect(await tftpGet(pxelinuxConfig)).toBeNull();
  });

  test('a failed recover reported by the rescue system fails the restore', async () => {
    const { restore } = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 202 });
    await waitForPhase(restore.id, 'power_on');
    await tftpGet(`rearguard/${restore.id}/initrd.cgz`);
    await fetch(`${d.url}/boot/${restore.id}/report/rescue_booted`, { method: 'POST' });
    await fetch(`${d.url}/boot/${restore.id}/report/recover_failed`, { method: 'POST' });
    const done = await waitForRestore(restore.id);
    expect(done).toMatchObject({ state: 'failed', failed_phase: 'recovered' });
    expect(done.error).toMatch(/rear recover failed/);
  });

  test('a second restore of a node being restored is a 409; cancel ends the first and removes its configs', async () => {
    const { restore, run } = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 202 });
    const again = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 409 });
    expect(again).toMatchObject({ status: 409, run_id: run.id });
    expect(again.detail).toContain(restore.id);
    // A backup of the target while one of its nodes is being restored is refused too.
    await d.json('POST', '/v1/backup/undercloud', { status: 409 });
    // ...and the backup being restored cannot be deleted.
    await d.json('DELETE', `/v1/backup/${backupId}`, { status: 409 });

    await waitForPhase(restore.id, 'power_on');
    await d.json('POST', `/v1/runs/${run.id}/cancel`, { status: 202 });
    const done = await waitForRestore(restore.id);
    expect(done.state).toBe('cancelled');
    expect(done.phases.cleaned_up).toBeDefined();
    expect(await tftpGet(pxelinuxConfig)).toBeNull();
  });

  test('a restore of a node that a live backup holds is a 409 naming the backup run; nothing is staged', async () => {
    ws.setHosts({ ...hosts, undercloud: { undercloud: { ...hosts.undercloud.undercloud, hold: true } } });
    const held = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const refused = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 409 });
    expect(refused).toMatchObject({ status: 409, run_id: held.run.id });
    expect(refused.detail).toBe(`node undercloud is being backed up by run ${held.run.id}`);
    expect(await tftpGet(pxelinuxConfig)).toBeNull();
    ws.setHosts(hosts);
    mkdirSync(ws.staging, { recursive: true });
    writeFileSync(join(ws.staging, `release-${held.run.id}`), '');
    expect((await waitForRun(d, held.run.id)).state).toBe('succeeded');
  });

  test('the node can be named by its Ironic UUID, and an Idempotency-Key makes a retry return the same restore', async () => {
    const headers = { 'idempotency-key': 'restore-retry-1' };
    const first = await d.json('POST', `/v1/restore/${backupId}/6F0A4CC2-5BB1-4A5E-9D6E-2B1D0C1F9A77`, { status: 202, headers });
    const retry = await d.request('POST', `/v1/restore/${backupId}/6F0A4CC2-5BB1-4A5E-9D6E-2B1D0C1F9A77`, { headers });
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect((await retry.json()).restore.id).toBe(first.restore.id);
    expect(first.restore.node).toBe('undercloud');
    await d.json('POST', `/v1/runs/${first.run.id}/cancel`, { status: 202 });
    await waitForRestore(first.restore.id);
  });

  test('bad requests are clear 4xx problems and stage nothing', async () => {
    const problem = async (path: string, status: number) => {
      const res = await d.request('POST', path, { role: 'operator' });
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      return res.json();
    };
    expect((await problem(`/v1/restore/not-an-id/undercloud`, 400)).field).toBe('id');
    expect((await problem(`/v1/restore/${newId('bk')}/undercloud`, 404)).detail).toMatch(/does not exist/);
    expect((await problem(`/v1/restore/${backupId}/nobody`, 404)).field).toBe('nodeid');
    expect((await problem(`/v1/restore/${backupId}/bad%20name`, 400)).field).toBe('nodeid');
    const other = await problem(`/v1/restore/${ctl0Backup}/undercloud`, 422);
    expect(other.detail).toMatch(/is of node ctl0, not undercloud; add \?allow_other_node=true/);
    expect((await problem(`/v1/restore/${ctl1Backup}/ctl1`, 422)).detail).toMatch(/no MAC address is known for node ctl1/);
    expect((await problem(`/v1/restore/${backupId}/undercloud?allow_other_node=maybe`, 400)).field).toBe('allow_other_node');
    const reader = await d.request('POST', `/v1/restore/${backupId}/undercloud`, { role: 'reader' });
    expect(reader.status).toBe(403);
    expect(await tftpGet(pxelinuxConfig)).toBeNull();

    // Onto other hardware only when asked: the backup of ctl0 restored onto ctl0's replacement (here, ctl0 itself is the only one with MACs).
    const { restore, run } = await d.json('POST', `/v1/restore/${ctl0Backup}/undercloud?allow_other_node=true`, { status: 202 });
    expect(restore).toMatchObject({ backup_id: ctl0Backup, node: 'undercloud' });
    await d.json('POST', `/v1/runs/${run.id}/cancel`, { status: 202 });
    await waitForRestore(restore.id);
  });
});

describe('the rescue hook', () => {
  /**
   * Boots a restore of the undercloud's backup up to its rescue system, then sources the hook in
   * bash as ReaR's system-setup does and runs `rear -v recover`, with `rear` a stand-in for ReaR's
   * recover that reads the archive path the way restore/NETFS/default/400_restore_backup.sh does
   * (`dd if=$restore_input bs=1M | …`) after a while of "layout recreation".
   */
  async function rescueSystemRecovers() {
    const { restore, run } = await d.json('POST', `/v1/restore/${backupId}/undercloud`, { status: 202 });
    await waitForPhase(restore.id, 'power_on');
    await tftpGet(`rearguard/${restore.id}/initrd.cgz`);

    // The overlay's restore.env, as the daemon rendered it into the initrd overlay.
    const overlay = Buffer.from(await (await fetch(`${d.url}/boot/${restore.id}/files/rearguard.cpio`)).arrayBuffer());
    const envStart = overlay.indexOf('RG_RESTORE_ID=');
    const env = overlay.subarray(envStart, overlay.indexOf('070701', envStart)).toString().replace(/\0+$/, '');
    const rescue = join(ws.dir, `rescue-${restore.id}`);
    const archivePath = join(rescue, 'archive', 'backup.tar.gz');
    const envFile = join(rescue, 'restore.env');
    mkdirSync(join(rescue, 'bin'), { recursive: true });
    writeFileSync(envFile, env.replace(/^RG_ARCHIVE_PATH=.*$/m, `RG_ARCHIVE_PATH='${archivePath}'`));
    expect(env).toContain(`RG_HTTP='${d.url}'`);

    // The archive is the fixture's random bytes, not a tar: the stand-in keeps what dd read (the
    // hook's own test beside this one runs a real tar through the FIFO).
    const recover = [
      '#!/bin/bash',
      'echo "rear $*"',
      `a='${archivePath}'`,
      `if [ -p "$a" ]; then echo fifo; elif [ -f "$a" ]; then echo file; else echo none; fi > '${rescue}/kind'`,
      'sleep 1',
      `dd if="$a" bs=1M 2>/dev/null > '${rescue}/read'`,
    ].join('\n');
    writeFileSync(join(rescue, 'bin', 'rear'), `${recover}\n`, { mode: 0o755 });
    const hook = join(import.meta.dirname, '../../pxe/rescue-hook.sh');
    const r = await execa('bash', ['-c', `source '${hook}'; rear -v recover`], {
      env: { RG_ENV_FILE: envFile, PATH: `${join(rescue, 'bin')}:${process.env.PATH}` },
      reject: false,
      timeout: 30_000,
    });
    expect(r.stdout).toContain(`Rearguard restore ${restore.id}: backup ${backupId} of undercloud`);
    expect(r.stdout).toContain('rear -v recover');
    // ReaR's dd read a FIFO, never a regular file in the rescue system's RAM.
    expect(readFileSync(join(rescue, 'kind'), 'utf8').trim()).toBe('fifo');
    const done = await waitForRestore(restore.id);
    const events = (await d.json('GET', `/v1/runs/${run.id}/events`)).events as { phase: string; message: string }[];
    return { r, done, events, read: readFileSync(join(rescue, 'read')), archivePath };
  }

  test('sourced by bash as ReaR’s system-setup does: reports, streams the archive through a FIFO into the recover, verifies it, reports the recover', async () => {
    const { r, done, events, read, archivePath } = await rescueSystemRecovers();
    expect(r.exitCode).toBe(0);
    const backup = await d.json('GET', `/v1/backup/${backupId}`);
    const artefact = backup.manifest.artefacts.find((a: { name: string }) => a.name === 'backup.tar.gz');
    expect(read.length).toBe(artefact.size);
    expect(sha256(read)).toBe(artefact.sha256);
    expect(existsSync(archivePath)).toBe(true);
    expect(statSync(archivePath).isFIFO()).toBe(true);

    expect(done.state).toBe('succeeded');
    expect(Object.keys(done.phases)).toEqual(expect.arrayContaining(['rescue_booted', 'archive_fetched', 'recovered']));
    const reports = events.map((e) => e.phase).filter((p) => ['archive_fetched', 'recovered'].includes(p));
    expect(reports).toEqual(['archive_fetched', 'recovered']);
  });

  test('an archive corrupted in storage: the rescue system reports archive_mismatch, and the restore fails in archive_fetched', async () => {
    const backup = await d.json('GET', `/v1/backup/${backupId}`);
    const stored = join(ws.storage, backup.target, backup.node, backupId, 'backup.tar.gz');
    const good = readFileSync(stored);
    const bad = Buffer.from(good);
    for (const i of [0, 100, bad.length - 1]) bad[i] = bad[i]! ^ 0xff;
    writeFileSync(stored, bad);
    try {
      const { r, done, events, read } = await rescueSystemRecovers();
      // The daemon withholds the end of an archive that differs from its manifest: the restore
      // read a short, corrupted prefix; the hook's rear fails though ReaR's "succeeded".
      expect(read.length).toBeLessThan(bad.length);
      expect(read).toEqual(bad.subarray(0, read.length));
      expect(r.stdout).toContain('Rearguard: rear recover ran over an archive that did not verify');
      expect(r.exitCode).not.toBe(0);
      expect(done).toMatchObject({ state: 'failed', failed_phase: 'archive_fetched' });
      expect(done.error).toBe(
        `archive_fetched: the archive the rescue system read differs from backup ${backupId}'s manifest (sha256 mismatch)`,
      );
      expect(done.phases.archive_fetched).toBeUndefined();
      expect(done.phases.recovered).toBeUndefined();
      expect(events.map((e) => e.message)).toContain(
        `the archive the rescue system read differs from backup ${backupId}'s manifest (sha256 mismatch)`,
      );
    } finally {
      writeFileSync(stored, good);
    }
  });
});

describe('GET /v1/restore', () => {
  test('the history, newest first, paged and filtered; last; one by id', async () => {
    const all = await d.json('GET', '/v1/restore?limit=1000', { role: 'reader' });
    expect(all.restores.length).toBeGreaterThanOrEqual(5);
    const times = all.restores.map((r: { created_at: string }) => r.created_at);
    expect([...times].sort().reverse()).toEqual(times);

    const ids: string[] = [];
    let marker: string | null = null;
    do {
      const page: any = await d.json('GET', `/v1/restore?limit=2${marker ? `&marker=${marker}` : ''}`);
      ids.push(...page.restores.map((r: { id: string }) => r.id));
      marker = page.next_marker;
    } while (marker);
    expect(ids).toEqual(all.restores.map((r: { id: string }) => r.id));

    const failed = await d.json('GET', '/v1/restore?state=failed');
    expect(failed.restores.every((r: { state: string }) => r.state === 'failed')).toBe(true);
    // No initrd fetched, recover failed, never back from its disk, archive mismatch.
    expect(failed.restores.length).toBe(4);
    const last = await d.json('GET', '/v1/restore/last?node=undercloud');
    expect(last.id).toBe(all.restores[0].id);
    expect(await d.json('GET', `/v1/restore/${last.id}`)).toEqual(last);
    await d.json('GET', '/v1/restore/last?node=ctl1', { status: 404 });
    await d.json('GET', `/v1/restore/${newId('rs')}`, { status: 404 });
    await d.json('GET', '/v1/restore/bk_nope', { status: 400 });
    await d.json('GET', '/v1/restore?marker=nope', { status: 400 });
  });
});
