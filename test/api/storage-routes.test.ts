import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startTestDaemon, Workspace } from '../harness/test-daemon.ts';

const ws = new Workspace();
const daemons: Array<{ stop(): Promise<void> }> = [];
afterAll(async () => {
  for (const d of daemons) await d.stop();
  ws.remove();
});

describe('POST /v1/storage/validate', () => {
  test('writable file:// storage passes; the check needs an operator', async () => {
    const d = await startTestDaemon(ws);
    daemons.push(d);
    const check = await d.json('POST', '/v1/storage/validate', { role: 'operator' });
    expect(check).toMatchObject({ location: `file://${ws.storage}`, writable: true, error: null });
    expect((await d.request('POST', '/v1/storage/validate', { role: 'reader' })).status).toBe(403);
    // The next test starts a daemon on the same data dir, which only one daemon at a time may own.
    await d.stop();
  });

  test('storage that cannot be written gives the reason, and the daemon warns at start-up', async () => {
    const blocker = join(ws.dir, 'not-a-dir');
    writeFileSync(blocker, 'a file where the storage directory should be');
    const lines: string[] = [];
    const d = await startTestDaemon(ws, { storage: { url: `file://${blocker}/backups` } }, lines);
    daemons.push(d);
    const check = await d.json('POST', '/v1/storage/validate', { role: 'operator' });
    expect(check.writable).toBe(false);
    expect(check.error).toMatch(/ENOTDIR/);
    expect(lines.some((l) => l.includes('storage is not writable') && l.includes('ENOTDIR'))).toBe(true);
  });
});
