import type { Records } from '../core/ports.ts';
import { backupRecords } from './backup-records.ts';
import type { Db } from './client.ts';
import { nodeLockRecords, nodeRecords } from './node-records.ts';
import { restoreRecords } from './restore-records.ts';
import { runEventRecords, runRecords } from './run-records.ts';

/** The core's Records port on SQLite, a module per table. better-sqlite3 is synchronous, so every call is too. */
export function sqliteRecords(db: Db): Records {
  return {
    transaction: (fn) => db.$client.transaction(fn)(),
    ping: () => void db.$client.prepare('select 1').get(),
    runs: runRecords(db),
    events: runEventRecords(db),
    backups: backupRecords(db),
    restores: restoreRecords(db),
    nodeLocks: nodeLockRecords(db),
    nodes: nodeRecords(db),
  };
}
