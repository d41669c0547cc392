import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/** A backup through the API with encryption configured: storage holds age files only an identity opens. */

const ws = new Workspace();
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let identityFile: string;
let recipient: string;

beforeAll(async () => {
  identityFile = join(ws.dir, 'operator.key');
  await execa('age-keygen', ['-o', identityFile]);
  recipient = (await execa('age-keygen', ['-y', identityFile])).stdout.trim();
  d = await startTestDaemon(ws, { encryption: { recipients: [recipient] } });
});
afterAll(async () => {
  await d?.stop();
  ws.remove();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('encrypted backups', () => {
  test('stored artefacts are age files; the manifest names the key and both checksums', async () => {
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const run = await waitForRun(d, started.run.id);
    expect(run.error).toBeNull();
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    expect(backup.manifest.encryption).toMatchObject({ format: 'age', recipients: [recipient] });
    expect(backup.manifest.encryption.key_id).toMatch(/^[0-9a-f]{16}$/);

    const dir = fileURLToPath(backup.location_url);
    for (const a of backup.manifest.artefacts) {
      const stored = readFileSync(join(dir, a.name));
      expect(stored.length).toBe(a.stored_size);
      expect(sha256(stored)).toBe(a.stored_sha256);
      expect(a.stored_sha256).not.toBe(a.sha256);
      const plain = (
        await execa('age', ['-d', '-i', identityFile, join(dir, a.name)], { encoding: 'buffer', stripFinalNewline: false })
      ).stdout;
      expect(plain.length).toBe(a.size);
      expect(sha256(Buffer.from(plain))).toBe(a.sha256);
    }
  });
});
