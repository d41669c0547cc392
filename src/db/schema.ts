import { sql } from 'drizzle-orm';
import { backupStates, eventLevels, restoreStates, runKinds, runStates, type BackupManifest } from '../core/model.ts';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Timestamps are epoch milliseconds: compact, sortable, and exact for keyset pagination. */

export const runs = sqliteTable(
  'runs',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: runKinds }).notNull(),
    target: text('target').notNull(),
    params: text('params', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    state: text('state', {
      enum: runStates,
    }).notNull(),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
    error: text('error'),
    requestedBy: text('requested_by'),
    idempotencyKey: text('idempotency_key'),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: integer('lease_expires_at'),
    /** Set once a run's hosts may have services stopped; cleared when they are known to be back. */
    quiesceOpen: integer('quiesce_open', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    index('runs_created').on(t.createdAt, t.id),
    // One live run per target, enforced by the database itself.
    uniqueIndex('runs_one_live_per_target')
      .on(t.target)
      .where(sql`state in ('queued', 'running')`),
    uniqueIndex('runs_idempotency_key').on(t.idempotencyKey),
  ],
);

export const runEvents = sqliteTable(
  'run_events',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    at: integer('at').notNull(),
    level: text('level', { enum: eventLevels }).notNull(),
    phase: text('phase').notNull(),
    host: text('host'),
    message: text('message').notNull(),
    data: text('data', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [index('run_events_run').on(t.runId, t.seq)],
);

export const backups = sqliteTable(
  'backups',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    locationUrl: text('location_url'),
    creationDate: integer('creation_date').notNull(),
    target: text('target').notNull(),
    node: text('node').notNull(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
    state: text('state', { enum: backupStates }).notNull(),
    size: integer('size'),
    sha256: text('sha256'),
    manifest: text('manifest', { mode: 'json' }).$type<BackupManifest>(),
    error: text('error'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [
    index('backups_created').on(t.creationDate, t.id),
    index('backups_target_created').on(t.target, t.creationDate, t.id),
    index('backups_node_created').on(t.node, t.creationDate, t.id),
    index('backups_state_created').on(t.state, t.creationDate, t.id),
    index('backups_run').on(t.runId),
  ],
);

export const restores = sqliteTable(
  'restores',
  {
    id: text('id').primaryKey(),
    backupId: text('backup_id').notNull(),
    node: text('node').notNull(),
    runId: text('run_id').references(() => runs.id),
    state: text('state', { enum: restoreStates }).notNull(),
    createdAt: integer('created_at').notNull(),
    startedAt: integer('started_at'),
    finishedAt: integer('finished_at'),
    error: text('error'),
    requestedBy: text('requested_by'),
    /** The MACs the node PXE-boots from, as they were when the restore was staged. */
    macs: text('macs', { mode: 'json' })
      .$type<string[]>()
      .notNull()
      .default(sql`'[]'`),
    /** When each phase was reached (epoch ms), by phase name. */
    phases: text('phases', { mode: 'json' })
      .$type<Record<string, number>>()
      .notNull()
      .default(sql`'{}'`),
    /** The phase a failed restore stopped in. */
    failedPhase: text('failed_phase'),
    updatedAt: integer('updated_at').notNull().default(0),
  },
  (t) => [
    index('restores_backup').on(t.backupId, t.state),
    index('restores_created').on(t.createdAt, t.id),
    index('restores_node_created').on(t.node, t.createdAt, t.id),
    // One live restore per node, enforced by the database itself.
    uniqueIndex('restores_one_live_per_node')
      .on(t.node)
      .where(sql`state in ('queued', 'running')`),
  ],
);

/** The nodes a live run holds: the primary key lets only one run hold a node, whatever its kind. */
export const nodeLocks = sqliteTable(
  'node_locks',
  {
    node: text('node').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
  },
  (t) => [index('node_locks_run').on(t.runId)],
);

export const nodes = sqliteTable('nodes', {
  name: text('name').primaryKey(),
  target: text('target').notNull(),
  address: text('address').notNull(),
  macs: text('macs', { mode: 'json' })
    .$type<string[]>()
    .notNull()
    .default(sql`'[]'`),
  ironicUuid: text('ironic_uuid'),
  /** Pinned on first contact; a different key later is refused. */
  hostKeySha256: text('host_key_sha256'),
  updatedAt: integer('updated_at').notNull(),
});
