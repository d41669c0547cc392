import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/** Restores of encrypted backups: only a daemon given an identity can boot them, and it serves plaintext. */

const MAC = '52:54:00:ab:cd:0e';
const ws = new Workspace({ undercloud: { undercloud: { fixture_macs: [MAC] } } });
const daemons: Array<{ stop(): Promise<void> }> = [];
let identityFile: string;
let recipient: string;

beforeAll(async () => {
  identityFile = join(ws.dir, 'restore.key');
  await execa('age-keygen', ['-o', identityFile]);
  recipient = (await execa('age-keygen', ['-y', identityFile])).stdout.trim();
});
afterAll(async () => {
  for (const d of daemons) await d.stop();
  ws.remove();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function daemonWith(encryption: Record<string, unknown>) {
  const d = await startTestDaemon(ws, { encryption, restore: { bootTimeoutSeconds: 30 } });
  daemons.push(d);
  return d;
}

describe('restoring an encrypted backup', () => {
  test('without an identity: 422 naming the key, nothing started', async () => {
    const d = await daemonWith({ recipients: [recipient] });
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    expect((await waitForRun(d, started.run.id)).state).toBe('succeeded');
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    const problem = await d.json('POST', `/v1/restore/${backup.id}/undercloud`, { status: 422 });
    expect(problem.detail).toContain(`is encrypted (key ${backup.manifest.encryption.key_id}); set encryption.identityFile`);
    await d.stop();
  });

  test('with the identity: kernel, initrd and archive are served decrypted and verified', async () => {
    const d = await daemonWith({ recipients: [recipient], identityFile });
    const backup = (await d.json('GET', '/v1/backup?state=available&include=manifest')).backups[0];
    const artefact = (name: string) => backup.manifest.artefacts.find((a: { name: string }) => a.name === name);
    expect(artefact('kernel').stored_sha256).not.toBe(artefact('kernel').sha256);

    const { restore, run } = await d.json('POST', `/v1/restore/${backup.id}/undercloud`, { status: 202 });
    const until = Date.now() + 30_000;
    while (!(await d.json('GET', `/v1/restore/${restore.id}`)).phases.staged) {
      if (Date.now() > until) throw new Error('never staged');
      await new Promise((r) => setTimeout(r, 100));
    }
    const get = async (path: string) => Buffer.from(await (await fetch(`${d.url}${path}`)).arrayBuffer());
    expect(sha256(await get(`/boot/${restore.id}/files/kernel`))).toBe(artefact('kernel').sha256);
    expect(sha256(await get(`/boot/${restore.id}/files/initrd.cgz`))).toBe(artefact('initrd.cgz').sha256);
    expect(sha256(await get(`/boot/${restore.id}/archive`))).toBe(artefact('backup.tar.gz').sha256);
    await d.json('POST', `/v1/runs/${run.id}/cancel`, { status: 202 });
  });
});
