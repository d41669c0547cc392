import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSwift, swiftS3Client, type Swift } from '../harness/swift.ts';
import { startTestDaemon, waitForRun, Workspace } from '../harness/test-daemon.ts';

/** The daemon configured with s3:// storage on a real OpenStack Swift (s3api): backups land there, deletes remove them. */

let swift: Swift;
const ws = new Workspace({ undercloud: { undercloud: {} } });
let d: Awaited<ReturnType<typeof startTestDaemon>>;
let admin: S3Client;

beforeAll(async () => {
  swift = await startSwift();
  d = await startTestDaemon(ws, {
    storage: {
      url: `s3://${swift.bucketName}/rearguard`,
      s3: {
        endpoint: swift.endpoint,
        accessKeyId: swift.s3.accessKeyId,
        secretAccessKey: swift.s3.secretAccessKey,
        partSizeMiB: 5,
      },
    },
  });
  admin = swiftS3Client(swift);
});
afterAll(async () => {
  await d?.stop();
  await swift?.stop();
  ws.remove();
});

const keys = async (prefix: string) =>
  ((await admin.send(new ListObjectsV2Command({ Bucket: swift.bucketName, Prefix: prefix }))).Contents ?? []).map((o) => o.Key);

describe('backups on s3:// storage (Swift)', () => {
  test('a backup is stored under its own prefix, verified, and removed by DELETE', async () => {
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const run = await waitForRun(d, started.run.id);
    expect(run.error).toBeNull();
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    expect(backup.state).toBe('available');
    expect(backup.location_url).toBe(`s3://${swift.bucketName}/rearguard/undercloud/undercloud/${backup.id}/`);
    const prefix = `rearguard/undercloud/undercloud/${backup.id}/`;
    expect((await keys(prefix)).sort()).toEqual([
      `${prefix}backup.tar.gz`,
      `${prefix}initrd.cgz`,
      `${prefix}kernel`,
      `${prefix}manifest.json`,
      `${prefix}rear-undercloud.iso`,
    ]);

    expect((await d.request('DELETE', `/v1/backup/${backup.id}`)).status).toBe(204);
    expect(await keys(prefix)).toEqual([]);
  });

  test('storage that refuses writes fails the run at preflight, before any node is touched', async () => {
    const bad = new Workspace({ undercloud: { undercloud: {} } });
    const d2 = await startTestDaemon(bad, {
      storage: {
        url: `s3://${swift.bucketName}/rearguard`,
        s3: { endpoint: swift.endpoint, accessKeyId: swift.s3.accessKeyId, secretAccessKey: 'wrong-secret' },
      },
    });
    try {
      const started = await d2.json('POST', '/v1/backup/undercloud', { status: 202 });
      const run = await waitForRun(d2, started.run.id);
      expect(run.state).toBe('failed');
      expect(run.error).toMatch(/^preflight: storage is not writable: .*credentials refused/);
      expect(run.events.some((e: { phase: string }) => e.phase === 'quiesce')).toBe(false);
    } finally {
      await d2.stop();
      bad.remove();
    }
  });
});
