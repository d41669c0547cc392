import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlaybook, type PlaybookEvent } from '../../src/ansible/playbook-run.ts';
import { startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { mariadbRunning, stopMariadb, writeTestRow } from '../harness/mariadb.ts';
import { labRearSettings } from '../harness/rear.ts';

const BACKUP = fileURLToPath(new URL('../../playbooks/backup.yml', import.meta.url));
const UNQUIESCE = fileURLToPath(new URL('../../playbooks/unquiesce.yml', import.meta.url));

interface Manifest {
  host: string;
  backup_id: string;
  run_id: string;
  rear_version: string;
  created: string;
  database_dump: string;
  artefacts: Array<{ name: string; path: string; size: number; sha256: string }>;
}

let lab: Lab;
let node: LabNode;
let rearSettings: Record<string, string | string[]>;

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: true });
  node = lab.nodes[0]!;
  rearSettings = await labRearSettings(node);
}, 600_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

async function sh(cmd: string): Promise<string> {
  const r = await node.exec(cmd);
  if (r.exitCode !== 0) throw new Error(`${cmd}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** What a run can leave on the node: ReaR work dirs, rear processes, staging bind mounts. */
async function leftovers(staging: string): Promise<{ workDirs: string; rear: string; mounts: string }> {
  const out = async (cmd: string) => (await node.exec(cmd)).stdout.trim();
  return {
    workDirs: await out(`ls -d /var/tmp/rear.* /tmp/rear.* ${staging}/*/rear-tmp/rear.* 2>/dev/null || true`),
    rear: await out(`pgrep -af 'rear-confi[g] -v mkbackup' || true`),
    mounts: await out(`grep -F ' ${staging} ' /proc/self/mounts || true`),
  };
}

function run(
  playbook: string,
  runId: string,
  backupId: string,
  extra: Record<string, unknown> = {},
  signal?: AbortSignal,
  onEvent?: (e: PlaybookEvent) => void,
) {
  const events: PlaybookEvent[] = [];
  const result = runPlaybook({
    signal,
    playbook,
    inventory: lab.inventoryFile,
    extraVars: {
      rearguard_hosts: 'Undercloud',
      rearguard_run_id: runId,
      rearguard_staging_dir: node.stagingDir,
      rearguard_backups: { [node.name]: backupId },
      rearguard_services: ['mariadb'],
      rearguard_rear_settings: rearSettings,
      ...extra,
    },
    onEvent: (e) => {
      events.push(e);
      onEvent?.(e);
    },
  });
  return result.then((r) => ({ ...r, events }));
}

describe('backup.yml', () => {
  it(
    'images a node with its database dump and restarts MariaDB, staging on the root filesystem',
    { timeout: 600_000 },
    async () => {
      await writeTestRow(node, 'before-backup-42');
      // A staging dir on '/' (no dedicated volume) gets a bind mount of its own for the run.
      const staging = '/var/lib/rearguard/staging-on-root';
      const result = await run(BACKUP, 'run_ok', 'bk_ok', { rearguard_staging_dir: staging });
      expect(result.failures).toEqual([]);
      expect(result.exitCode).toBe(0);

      // Phases in order, MariaDB stopped by quiesce and started by unquiesce.
      const done = result.events.flatMap((e) => (e.type === 'host_ok' ? [e.task] : []));
      const phases = [...new Set(done.map((t) => t.split(':')[0]))];
      expect(phases).toEqual(['preflight', 'quiesce', 'image', 'unquiesce', 'cleanup', 'verify']);
      const changed = (task: string) => result.events.some((e) => e.type === 'host_ok' && e.task === task && e.changed);
      expect(changed('quiesce: stop services')).toBe(true);
      expect(changed('unquiesce: start services')).toBe(true);
      expect(await mariadbRunning(node)).toBe(true);
      expect(changed('image: give the staging dir a mount of its own')).toBe(true);
      expect((await node.exec(`mountpoint -q ${staging}`)).exitCode).not.toBe(0);
      expect((await node.exec(`ls ${staging}/run-run_ok.bind.json`)).exitCode).not.toBe(0);
      // ReaR removed its own work dir (under the backup dir's rear-tmp); the daemon removes the
      // backup dir itself after the transfer, so backup.yml keeps it.
      expect(await leftovers(staging)).toEqual({ workDirs: '', rear: '', mounts: '' });

      const dir = `${staging}/bk_ok`;
      const manifest = JSON.parse(await sh(`cat ${dir}/manifest.json`)) as Manifest;
      expect(manifest).toMatchObject({ host: node.name, backup_id: 'bk_ok', run_id: 'run_ok', rear_version: '2.7' });
      expect(Date.parse(manifest.created)).not.toBeNaN();
      expect(manifest.artefacts.map((a) => a.name)).toEqual([`rear-${node.name}.iso`, 'backup.tar.gz', 'kernel', 'initrd.cgz']);
      for (const a of manifest.artefacts) {
        expect(a.path).toBe(`${dir}/${a.name}`);
        expect((await sh(`sha256sum ${a.path}`)).split(' ')[0]).toBe(a.sha256);
        expect(Number(await sh(`stat -c %s ${a.path}`))).toBe(a.size);
      }
      expect(await sh(`file -b ${dir}/rear-${node.name}.iso`)).toMatch(/ISO 9660/);
      expect(await sh(`file -b ${dir}/kernel`)).toMatch(/Linux kernel/);

      // The consistent dump is inside the archive, and no longer lying around on the node.
      const dumpInArchive = manifest.database_dump.replace(/^\//, '');
      expect(await sh(`tar -xzOf ${dir}/backup.tar.gz ${dumpInArchive} | grep -c before-backup-42`)).toMatch(/^[1-9]/);
      expect((await node.exec(`test -e ${manifest.database_dump}`)).exitCode).not.toBe(0);
      expect((await node.exec(`ls ${staging}/run-run_ok.quiesced.json`)).exitCode).not.toBe(0);
      // Staging is never archived.
      expect(await sh(`tar -tzf ${dir}/backup.tar.gz | grep -c '^${staging.slice(1)}/.' || true`)).toBe('0');
    },
  );

  // A real rear that fails late (its ISO maker fails after the rescue system was built): the
  // run's error is ReaR's own ERROR line, not ansible's "non-zero return code" or rc=-15, and the
  // failed backup leaves nothing: no staging dir, no ReaR work dir, no bind mount.
  it("fails with rear's own message, restarts MariaDB and leaves nothing behind", { timeout: 600_000 }, async () => {
    const staging = '/var/lib/rearguard/staging-on-root';
    const result = await run(BACKUP, 'run_fail', 'bk_fail', {
      rearguard_staging_dir: staging,
      rearguard_rear_settings: { ...rearSettings, ISO_MKISOFS_BIN: '/usr/bin/false' },
    });
    expect(result.exitCode).not.toBe(0);
    // The failure is reported where it happened, and again by the last play, which fails the host
    // (the rescue in between lets a rolling run go on to the next node).
    const failed = result.events.find((e) => e.type === 'host_failed');
    expect(failed).toMatchObject({ host: node.name, task: 'image: rear mkbackup' });
    const message = failed?.type === 'host_failed' ? failed.message! : '';
    expect(message).toMatch(/^ERROR: /);
    expect(message).toContain('/usr/bin/false');
    expect(message).not.toMatch(/rc=|non-zero return code/);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ host: node.name, task: 'image: the backup of this node failed' });
    expect(result.failures[0]!.message).toMatch(/^image: rear mkbackup: ERROR: /);
    expect(result.events.some((e) => e.type === 'host_ok' && e.task === 'unquiesce: start services' && e.changed)).toBe(true);
    expect(await mariadbRunning(node)).toBe(true);

    expect(
      result.events.some((e) => e.type === 'host_ok' && e.task.startsWith('cleanup: remove the staging dir') && e.changed),
    ).toBe(true);
    expect((await node.exec(`test -e ${staging}/bk_fail`)).exitCode).not.toBe(0);
    expect((await node.exec(`ls ${staging}/run-run_fail.*`)).exitCode).not.toBe(0);
    expect(await leftovers(staging)).toEqual({ workDirs: '', rear: '', mounts: '' });
  });

  it('names a program ReaR needs and the node lacks before touching services', { timeout: 120_000 }, async () => {
    await sh('mv /usr/bin/cpio /usr/bin/cpio.away');
    try {
      const result = await run(BACKUP, 'run_nocpio', 'bk_nocpio');
      expect(result.exitCode).not.toBe(0);
      expect(result.failures[0]?.task).toBe('preflight: every program ReaR needs is on the node');
      expect(result.failures[0]?.message).toMatch(/required program cpio not found on the node/);
      expect(result.failures[0]?.message).toContain('apt-get install cpio');
      expect(result.failures[0]?.message).toContain('backup.rear.REQUIRED_PROGS');
      expect(result.events.some((e) => e.type === 'task_start' && e.task.startsWith('quiesce:'))).toBe(false);
    } finally {
      await sh('mv /usr/bin/cpio.away /usr/bin/cpio');
    }
  });

  it('names a KERNEL_FILE that does not exist before touching services', { timeout: 120_000 }, async () => {
    const result = await run(BACKUP, 'run_nokernel', 'bk_nokernel', {
      rearguard_rear_settings: { ...rearSettings, KERNEL_FILE: '/boot/vmlinuz-none' },
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.failures[0]?.task).toBe('preflight: ReaR finds a kernel for the rescue system');
    expect(result.failures[0]?.message).toMatch(/backup\.rear\.KERNEL_FILE names \/boot\/vmlinuz-none, which does not exist/);
    expect(result.events.some((e) => e.type === 'task_start' && e.task.startsWith('quiesce:'))).toBe(false);
  });

  it('refuses a staging dir without enough free space before touching services', { timeout: 120_000 }, async () => {
    const result = await run(BACKUP, 'run_pre', 'bk_pre', { rearguard_min_free_mb: 100_000_000 });
    expect(result.exitCode).not.toBe(0);
    expect(result.failures[0]?.task).toBe('preflight: staging dir has enough free space');
    expect(result.failures[0]?.message).toMatch(/needs at least 100000000 MB free/);
    expect(result.events.some((e) => e.type === 'task_start' && e.task.startsWith('quiesce:'))).toBe(false);
  });
});

describe('unquiesce.yml', () => {
  // Its own run (the cancel is the point): cancelled while rear mkbackup runs, the playbook
  // leaves rear running on the node, its staging dir with ReaR's work dir, and the bind mount;
  // unquiesce.yml, as the daemon runs it after a cancel, restarts MariaDB and removes all three.
  it('after a cancel mid-rear: services back, no rear, no staging dir, no work dir, no mount', { timeout: 600_000 }, async () => {
    const staging = '/var/lib/rearguard/staging-on-root';
    const abort = new AbortController();
    let imaging = false;
    const poll = (async () => {
      while (!abort.signal.aborted) {
        await new Promise((r) => setTimeout(r, 500));
        if (imaging && (await node.exec(`ls -d ${staging}/bk_cancel/rear-tmp/rear.*`)).exitCode === 0) {
          await new Promise((r) => setTimeout(r, 3000));
          abort.abort();
        }
      }
    })();
    const cancelled = await run(BACKUP, 'run_cancel', 'bk_cancel', { rearguard_staging_dir: staging }, abort.signal, (e) => {
      if (e.type === 'task_start' && e.task === 'image: run rear mkbackup') imaging = true;
    });
    abort.abort();
    await poll;
    expect(cancelled.cancelled).toBe(true);
    expect(await mariadbRunning(node)).toBe(false);
    const before = await leftovers(staging);
    console.log('left by the cancelled run:', before);
    expect(before.workDirs).toContain(`${staging}/bk_cancel/rear-tmp/rear.`);
    expect(before.mounts).not.toBe('');

    const after = await run(UNQUIESCE, 'run_cancel', 'bk_cancel', { rearguard_staging_dir: staging });
    expect(after.exitCode).toBe(0);
    expect(await mariadbRunning(node)).toBe(true);
    expect((await node.exec(`test -e ${staging}/bk_cancel`)).exitCode).not.toBe(0);
    expect((await node.exec(`ls ${staging}/run-run_cancel.*`)).exitCode).not.toBe(0);
    expect(await leftovers(staging)).toEqual({ workDirs: '', rear: '', mounts: '' });

    // A second pass finds nothing to do.
    const again = await run(UNQUIESCE, 'run_cancel', 'bk_cancel', { rearguard_staging_dir: staging });
    expect(again.exitCode).toBe(0);
    expect(again.events.some((e) => e.type === 'host_ok' && e.task.startsWith('cleanup:') && e.changed)).toBe(false);
  });

  it('keeps the staging dir of a backup with a manifest unless it is discarded', { timeout: 120_000 }, async () => {
    await sh(`mkdir -p ${node.stagingDir}/bk_keep && echo '{}' > ${node.stagingDir}/bk_keep/manifest.json`);
    const kept = await run(UNQUIESCE, 'run_keep', 'bk_keep');
    expect(kept.exitCode).toBe(0);
    expect((await node.exec(`test -e ${node.stagingDir}/bk_keep/manifest.json`)).exitCode).toBe(0);
    const discarded = await run(UNQUIESCE, 'run_keep', 'bk_keep', { rearguard_discard_backups: ['bk_keep'] });
    expect(discarded.exitCode).toBe(0);
    expect((await node.exec(`test -e ${node.stagingDir}/bk_keep`)).exitCode).not.toBe(0);
  });

  it('restarts the services a crashed run recorded as stopped, once', { timeout: 300_000 }, async () => {
    await stopMariadb(node);
    expect(await mariadbRunning(node)).toBe(false);
    const record = JSON.stringify({ run_id: 'run_crash', backup_id: 'bk_crash', service_manager: 'auto', services: ['mariadb'] });
    await sh(`printf '%s' '${record}' > ${node.stagingDir}/run-run_crash.quiesced.json`);

    const first = await run(UNQUIESCE, 'run_crash', 'bk_crash');
    expect(first.exitCode).toBe(0);
    expect(await mariadbRunning(node)).toBe(true);
    expect((await node.exec(`ls ${node.stagingDir}/run-run_crash.quiesced.json`)).exitCode).not.toBe(0);

    // Without a record there is nothing to do.
    const second = await run(UNQUIESCE, 'run_crash', 'bk_crash');
    expect(second.exitCode).toBe(0);
    expect(second.events.some((e) => e.type === 'host_ok' && e.task === 'unquiesce: start services')).toBe(false);
    expect(await mariadbRunning(node)).toBe(true);
  });
});
