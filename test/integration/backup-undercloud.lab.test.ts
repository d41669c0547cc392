import { createHash } from 'node:crypto';
import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { labDaemonConfig, startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { mariadbRunning, writeTestRow } from '../harness/mariadb.ts';
import { labRearSettings } from '../harness/rear.ts';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/**
 * The whole backup path on a real node: an sshd node in its own network namespace and Debian
 * root, running MariaDB; the daemon's real HTTP API; real ansible-playbook; real `rear mkbackup`.
 */

let lab: Lab;
let node: LabNode;
const workspaces: Workspace[] = [];
const daemons: Array<{ stop(): Promise<void> }> = [];

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: true, groups: ['Undercloud'] });
  node = lab.nodes[0]!;
});
afterAll(async () => {
  for (const d of daemons) await d.stop();
  await lab?.stop();
  for (const ws of workspaces) ws.remove();
});

async function daemonFor(backup: Record<string, unknown> = {}) {
  const ws = new Workspace();
  workspaces.push(ws);
  const d = await startTestDaemon(ws, labDaemonConfig(lab.inventoryFile, await labRearSettings(node), backup));
  daemons.push(d);
  return { ws, d };
}

const sha256File = (file: string) =>
  new Promise<string>((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });

/** Polls the service throughout a run: proves it was really stopped, and started again. */
function probe(n: LabNode) {
  const seen: boolean[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      seen.push(await mariadbRunning(n));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return seen;
    },
  };
}

describe('POST /v1/backup/undercloud on a real node', () => {
  test('quiesces MariaDB, runs rear mkbackup, stores verified artefacts, and the service runs again', async () => {
    const { d } = await daemonFor();
    await writeTestRow(node, 'row-before-backup');
    const watch = probe(node);
    const started = await d.json('POST', '/v1/backup/undercloud?stopall=no', { status: 202 });
    const run = await waitForRun(d, started.run.id, 900_000);
    const seen = await watch.stop();
    expect(run.error).toBeNull();
    expect(run.state).toBe('succeeded');
    expect(seen).toContain(false);
    expect(seen.at(-1)).toBe(true);
    expect(await mariadbRunning(node)).toBe(true);

    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    expect(backup.state).toBe('available');
    expect(backup.node).toBe(node.name);
    const names = backup.manifest.artefacts.map((a: { name: string }) => a.name).sort();
    expect(names).toEqual(['backup.tar.gz', 'initrd.cgz', 'kernel', `rear-${node.name}.iso`].sort());
    const dir = fileURLToPath(backup.location_url);
    for (const a of backup.manifest.artefacts) expect(await sha256File(join(dir, a.name)), a.name).toBe(a.sha256);
    expect(backup.manifest.rear_version).toMatch(/^2\./);

    // The ISO is a real ISO 9660 image; the archive holds the consistent dump with the test row.
    // (Asynchronously: the daemon under test shares this event loop.)
    expect((await execa('file', ['-b', join(dir, `rear-${node.name}.iso`)])).stdout).toMatch(/ISO 9660/);
    const dump = await execa('tar', ['-xzOf', join(dir, 'backup.tar.gz'), '--wildcards', '*all-databases.sql'], {
      maxBuffer: 256 << 20,
    });
    expect(dump.stdout).toContain('row-before-backup');

    expect((await d.json('GET', '/v1/backup/last?target=undercloud')).id).toBe(backup.id);
    expect(existsSync(join(node.stagingOnHost, backup.id))).toBe(false);

    const phases = new Set(run.events.map((e: { phase: string }) => e.phase));
    for (const p of ['preflight', 'quiesce', 'image', 'unquiesce', 'transfer', 'verify', 'cleanup']) expect(phases).toContain(p);
  }, 900_000);

  test('a failing rear leaves MariaDB running and the run failed with the task’s message', async () => {
    writeFileSync(
      join(node.root, 'usr/local/bin/failing-rear'),
      '#!/bin/sh\necho "ERROR: simulated ReaR failure on $(hostname)" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    const { d } = await daemonFor({ rearCommand: '/usr/local/bin/failing-rear' });
    const watch = probe(node);
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const run = await waitForRun(d, started.run.id, 600_000);
    const seen = await watch.stop();
    expect(run.state).toBe('failed');
    expect(run.error).toContain('simulated ReaR failure');
    expect(seen).toContain(false);
    expect(await mariadbRunning(node)).toBe(true);
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    expect(backup.state).toBe('failed');
    expect(backup.error).toContain('simulated ReaR failure');
    expect(backup.location_url).toBeNull();
  }, 600_000);
});
