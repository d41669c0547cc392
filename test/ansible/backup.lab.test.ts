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

function run(playbook: string, runId: string, backupId: string, extra: Record<string, unknown> = {}) {
  const events: PlaybookEvent[] = [];
  const result = runPlaybook({
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
    onEvent: (e) => events.push(e),
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
      expect(phases).toEqual(['preflight', 'quiesce', 'image', 'unquiesce', 'verify']);
      const changed = (task: string) => result.events.some((e) => e.type === 'host_ok' && e.task === task && e.changed);
      expect(changed('quiesce: stop services')).toBe(true);
      expect(changed('unquiesce: start services')).toBe(true);
      expect(await mariadbRunning(node)).toBe(true);
      expect(changed('image: give the staging dir a mount of its own')).toBe(true);
      expect((await node.exec(`mountpoint -q ${staging}`)).exitCode).not.toBe(0);

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

  it("fails with rear's message and still restarts MariaDB", { timeout: 600_000 }, async () => {
    await sh(
      `printf '#!/bin/sh\\necho "Relax-and-Recover (fake)"\\necho "ERROR: simulated rear failure 7" >&2\\nexit 1\\n' > /usr/local/sbin/failing-rear && chmod +x /usr/local/sbin/failing-rear`,
    );
    const result = await run(BACKUP, 'run_fail', 'bk_fail', { rearguard_rear_command: '/usr/local/sbin/failing-rear' });
    expect(result.exitCode).not.toBe(0);
    // The failure is reported where it happened, and again by the last play, which fails the host
    // (the rescue in between lets a rolling run go on to the next node).
    const failed = result.events.find((e) => e.type === 'host_failed');
    expect(failed).toMatchObject({ host: node.name, task: 'image: rear mkbackup' });
    expect(failed?.type === 'host_failed' && failed.message).toContain('ERROR: simulated rear failure 7');
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ host: node.name, task: 'image: the backup of this node failed' });
    expect(result.failures[0]!.message).toContain('image: rear mkbackup: non-zero return code');
    expect(result.failures[0]!.message).toContain('ERROR: simulated rear failure 7');
    expect(result.events.some((e) => e.type === 'host_ok' && e.task === 'unquiesce: start services' && e.changed)).toBe(true);
    expect(await mariadbRunning(node)).toBe(true);
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
