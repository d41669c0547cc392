import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startLab, type Lab } from '../harness/lab.ts';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/** The daemon configured with sftp:// storage on a real sshd (a backup server): backups land there, deletes remove them. */

let lab: Lab;
const ws = new Workspace({ undercloud: { undercloud: {} } });
const remote = mkdtempSync('/var/tmp/rearguard-sftp-store-');
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: false, groups: ['Backup'] });
  const server = lab.nodes[0]!;
  const { stdout } = await execa('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(lab.dir, 'ssh_host_ed25519_key.pub')]);
  d = await startTestDaemon(ws, {
    storage: {
      url: `sftp://root@${server.address}${remote}`,
      sftp: { privateKeyFile: server.privateKeyFile, hostKeySha256: /SHA256:\S+/.exec(stdout)![0] },
    },
  });
});
afterAll(async () => {
  await d?.stop();
  await lab?.stop();
  ws.remove();
  rmSync(remote, { recursive: true, force: true });
});

describe('backups on sftp:// storage', () => {
  test('a backup is stored on the backup server under its own prefix, verified, and removed by DELETE', async () => {
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const run = await waitForRun(d, started.run.id);
    expect(run.error).toBeNull();
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    expect(backup.state).toBe('available');
    expect(backup.location_url).toMatch(new RegExp(`^sftp://root@[0-9.]+${remote}/undercloud/undercloud/${backup.id}/$`));
    const dir = join(remote, 'undercloud/undercloud', backup.id);
    expect(readdirSync(dir).sort()).toEqual(['backup.tar.gz', 'initrd.cgz', 'kernel', 'manifest.json', 'rear-undercloud.iso']);

    expect((await d.request('DELETE', `/v1/backup/${backup.id}`)).status).toBe(204);
    expect(existsSync(dir)).toBe(false);
  });
});
