import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlaybook, type PlaybookEvent } from '../../src/ansible/playbook-run.ts';
import { startLab, type Lab } from '../harness/lab.ts';
import { mariadbRunning } from '../harness/mariadb.ts';
import { labRearSettings } from '../harness/rear.ts';

const BACKUP = fileURLToPath(new URL('../../playbooks/backup.yml', import.meta.url));

/**
 * backup.yml's rolling mode on 3 controllers, with a ReaR that fails at once (no real imaging:
 * these tests are about which nodes ansible touches, not about images).
 */
let lab: Lab;
// Preflight checks the kernel ReaR would use, even though this ReaR fails at once.
let rearSettings: Record<string, string | string[]>;

beforeAll(async () => {
  lab = await startLab({ nodes: 3, withRoot: true, groups: ['Controller', 'Controller', 'Controller'] });
  rearSettings = await labRearSettings(lab.nodes[0]!);
  for (const n of lab.nodes) {
    await writeFile(join(n.root, 'usr/local/bin/failing-rear'), '#!/bin/sh\necho "ERROR: no rear here" >&2\nexit 1\n', {
      mode: 0o755,
    });
  }
}, 600_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

async function rolling(inventoryFile: string) {
  const events: PlaybookEvent[] = [];
  const result = await runPlaybook({
    playbook: BACKUP,
    inventory: inventoryFile,
    extraVars: {
      rearguard_hosts: 'Controller',
      rearguard_run_id: 'run_rolling',
      rearguard_serial: 1,
      rearguard_stopall: false,
      rearguard_staging_dir: lab.nodes[0]!.stagingDir,
      rearguard_backups: Object.fromEntries(lab.nodes.map((n) => [n.name, `bk_${n.name}`])),
      rearguard_services: ['mariadb'],
      rearguard_service_manager: 'sysvinit',
      rearguard_rear_command: '/usr/local/bin/failing-rear',
      rearguard_rear_settings: rearSettings,
    },
    onEvent: (e) => events.push(e),
  });
  const touched = (phase: string) => [
    ...new Set(events.flatMap((e) => (e.type === 'host_ok' && e.task.startsWith(`${phase}:`) ? [e.host] : []))),
  ];
  return { ...result, events, touched };
}

describe('backup.yml, stopall=no', () => {
  it('goes on to the next node after one failed to image, restarting each before the next', { timeout: 300_000 }, async () => {
    const r = await rolling(lab.inventoryFile);
    expect(r.touched('quiesce')).toEqual(['controller-0', 'controller-1', 'controller-2']);
    expect(r.touched('unquiesce')).toEqual(['controller-0', 'controller-1', 'controller-2']);
    expect(r.failures.map((f) => f.host).sort()).toEqual(['controller-0', 'controller-1', 'controller-2']);
    expect(await Promise.all(lab.nodes.map(mariadbRunning))).toEqual([true, true, true]);
  });

  it('stops before touching another node when one node’s services do not come back', { timeout: 300_000 }, async () => {
    const text = await readFile(lab.inventoryFile, 'utf8');
    const inventory = join(lab.dir, 'probe-fails.ini');
    await writeFile(
      inventory,
      text.replace(
        /^(controller-0 .*)$/m,
        `$1 rearguard_node_service_probes='{"mariadb": "false"}' rearguard_node_probe_retries=1`,
      ),
    );
    const r = await rolling(inventory);
    expect(r.exitCode).not.toBe(0);
    expect(r.failures.find((f) => f.host === 'controller-0')?.task).toBe('unquiesce: wait until the services answer');
    expect(r.touched('quiesce')).toEqual(['controller-0']);
    expect(await Promise.all(lab.nodes.slice(1).map(mariadbRunning))).toEqual([true, true]);
  });
});
