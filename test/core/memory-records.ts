import { openDatabase } from '../../src/db/client.ts';
import { sqliteRecords } from '../../src/db/records.ts';
import type { Backup, Restore, Run } from '../../src/core/model.ts';
import type { Logger, Records } from '../../src/core/ports.ts';
import type { RecordsContext } from '../../src/core/context.ts';
import { RunJournal } from '../../src/core/runs/run-journal.ts';

export const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** The records port on an in-memory SQLite database (the real schema and migrations), with a clock tests move. */
export function memoryLifecycle(): RecordsContext & { records: Records; tick(ms?: number): void } {
  const records = sqliteRecords(openDatabase(':memory:'));
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  return {
    records,
    clock,
    journal: new RunJournal(records, clock, quiet),
    log: quiet,
    instanceId: 'test-daemon',
    leaseMs: 60_000,
    tick: (ms = 1) => void (now += ms),
  };
}

let seq = 0;
const next = (prefix: string) => `${prefix}_${String(++seq).padStart(26, '0')}`;

export function aRun(fields: Partial<Run> = {}): Run {
  return {
    id: next('run'),
    kind: 'backup',
    target: 'overcloud',
    params: { stopAll: false },
    state: 'queued',
    createdAt: 1,
    startedAt: null,
    finishedAt: null,
    error: null,
    requestedBy: null,
    idempotencyKey: null,
    // Admitted by the daemon of memoryLifecycle().
    leaseOwner: 'test-daemon',
    leaseExpiresAt: 2_000_000_000_000,
    quiesceOpen: false,
    ...fields,
  } as Run;
}

export function aBackup(run: Run, node: string, fields: Partial<Backup> = {}): Backup {
  return {
    id: next('bk'),
    name: `${node}-x`,
    locationUrl: null,
    creationDate: 1,
    target: run.target,
    node,
    runId: run.id,
    state: 'pending',
    size: null,
    sha256: null,
    manifest: null,
    error: null,
    updatedAt: 1,
    ...fields,
  };
}

export function aRestore(run: Run, backup: Backup, fields: Partial<Restore> = {}): Restore {
  return {
    id: next('rs'),
    backupId: backup.id,
    node: backup.node,
    runId: run.id,
    state: 'queued',
    createdAt: 1,
    startedAt: null,
    finishedAt: null,
    error: null,
    requestedBy: null,
    macs: ['52:54:00:00:00:01'],
    phases: {},
    failedPhase: null,
    updatedAt: 1,
    ...fields,
  };
}

/** A restore on record, with the backup it restores (of a finished backup run) and its own run. */
export function recordRestore(
  records: Records,
  states: { run?: Run['state']; restore?: Restore['state'] } = {},
): { run: Run; backup: Backup; restore: Restore } {
  const made = aRun({ state: 'succeeded' });
  records.runs.insert(made);
  const backup = aBackup(made, 'n1', { state: 'available' });
  records.backups.insert(backup);
  const run = aRun({ kind: 'restore', target: 'node:n1', state: states.run ?? 'queued' });
  records.runs.insert(run);
  const restore = aRestore(run, backup, { state: states.restore ?? 'queued' });
  records.restores.insert(restore);
  return { run, backup, restore };
}
