import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { openDatabase } from '../../src/db/client.ts';
import { sqliteRecords } from '../../src/db/records.ts';

const dir = mkdtempSync(join(tmpdir(), 'rg-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('runs recorded before params were typed read back typed after the migration', () => {
  const file = join(dir, 'rearguard.db');
  const db = openDatabase(file);
  // As a daemon before migration 0003 wrote them, then 0003 not yet applied.
  db.$client.exec(`
    insert into runs (id, kind, target, params, state, created_at) values
      ('run_a', 'backup', 'overcloud', '{"stopall":"yes"}', 'succeeded', 1),
      ('run_b', 'backup', 'undercloud', '{"stopall":"no"}', 'failed', 2),
      ('run_c', 'restore', 'node:ctl0', '{"backup_id":"bk_1","node":"ctl0"}', 'succeeded', 3);
    delete from __drizzle_migrations where created_at = (select max(created_at) from __drizzle_migrations);
  `);
  db.$client.close();

  const records = sqliteRecords(openDatabase(file));
  expect(records.runs.get('run_a')!.params).toEqual({ stopAll: true });
  expect(records.runs.get('run_b')!.params).toEqual({ stopAll: false });
  expect(records.runs.get('run_c')!.params).toEqual({ backupId: 'bk_1', node: 'ctl0' });
});
