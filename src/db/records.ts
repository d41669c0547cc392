import { and, asc, desc, eq, exists, getTableColumns, gt, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import { RearguardError } from '../core/errors.ts';
import type { Backup, BackupFilter, Page, Restore, RestoreFilter, Run, RunEvent } from '../core/model.ts';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { Records } from '../core/ports.ts';
import { liveRestoreStates, liveRunStates } from '../core/runs/transitions.ts';
import type { Db } from './client.ts';
import { backups, nodeLocks, nodes, restores, runEvents, runs } from './schema.ts';

/** The core's Records port on SQLite. better-sqlite3 is synchronous, so every call is too. */
export function sqliteRecords(db: Db): Records {
  const backupConditions = (filter: BackupFilter): SQL[] => {
    const conds: SQL[] = [];
    if (filter.target) conds.push(eq(backups.target, filter.target));
    if (filter.node) conds.push(eq(backups.node, filter.node));
    if (filter.state) conds.push(eq(backups.state, filter.state));
    return conds;
  };

  const restoreConditions = (filter: RestoreFilter): SQL[] => {
    const conds: SQL[] = [];
    if (filter.node) conds.push(eq(restores.node, filter.node));
    if (filter.backupId) conds.push(eq(restores.backupId, filter.backupId));
    if (filter.state) conds.push(eq(restores.state, filter.state));
    return conds;
  };

  /** Keyset pagination, newest first: a page strictly after the marker in (time desc, id desc) order. */
  const newestFirst = (
    table: typeof backups | typeof restores,
    time: SQLiteColumn,
    conds: SQL[],
    limit: number,
    marker: string | undefined,
    columns: Record<string, SQLiteColumn> = getTableColumns(table),
  ): Page<{ id: string }> => {
    const what = table === backups ? 'backup' : 'restore';
    if (marker !== undefined) {
      const m = db.select({ at: time, id: table.id }).from(table).where(eq(table.id, marker)).get() as
        { at: number; id: string } | undefined;
      if (!m) throw new RearguardError('invalid', `marker ${marker} is not a ${what} id`, { field: 'marker' });
      // One row-value comparison: SQLite seeks the (time, id) index to the marker. Spelled as
      // `time < ? OR (time = ? AND id < ?)` it scans the index from the newest row instead.
      conds = [...conds, sql`(${time}, ${table.id}) < (${m.at}, ${m.id})`];
    }
    const rows = db
      .select(columns)
      .from(table)
      .where(and(...conds))
      .orderBy(desc(time), desc(table.id))
      .limit(limit + 1)
      .all() as unknown as Array<{ id: string }>;
    const items = rows.slice(0, limit);
    return { items, nextMarker: rows.length > limit ? items[items.length - 1]!.id : null };
  };

  return {
    transaction: (fn) => db.$client.transaction(fn)(),
    ping: () => void db.$client.prepare('select 1').get(),

    runs: {
      insert: (run) => void db.insert(runs).values(run).run(),
      get: (id) => db.select().from(runs).where(eq(runs.id, id)).get() as Run | undefined,
      byIdempotencyKey: (key) => db.select().from(runs).where(eq(runs.idempotencyKey, key)).get() as Run | undefined,
      liveForTarget: (target) =>
        db
          .select()
          .from(runs)
          .where(and(eq(runs.target, target), inArray(runs.state, liveRunStates)))
          .get() as Run | undefined,
      update: (id, patch) => void db.update(runs).set(patch).where(eq(runs.id, id)).run(),
      transition: (id, from, to, patch, owner) =>
        db
          .update(runs)
          .set({ ...patch, state: to })
          .where(
            and(eq(runs.id, id), inArray(runs.state, [...from]), owner === undefined ? undefined : eq(runs.leaseOwner, owner)),
          )
          .run().changes === 1,
      claim: (id, from, to, expiresAt) =>
        db
          .update(runs)
          .set({ leaseOwner: to, leaseExpiresAt: expiresAt })
          .where(
            and(
              eq(runs.id, id),
              inArray(runs.state, liveRunStates),
              from === null ? isNull(runs.leaseOwner) : eq(runs.leaseOwner, from),
            ),
          )
          .run().changes === 1,
      renewLease: (id, owner, expiresAt) =>
        db
          .update(runs)
          .set({ leaseExpiresAt: expiresAt })
          .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner), inArray(runs.state, liveRunStates)))
          .run().changes === 1,
      unfinished: () =>
        db
          .select()
          .from(runs)
          .where(or(inArray(runs.state, liveRunStates), eq(runs.quiesceOpen, true)))
          .orderBy(asc(runs.createdAt))
          .all() as Run[],
    },

    events: {
      append: (event) => db.insert(runEvents).values(event).returning().get() as RunEvent,
      list: (runId, afterSeq, limit) =>
        db
          .select()
          .from(runEvents)
          .where(and(eq(runEvents.runId, runId), gt(runEvents.seq, afterSeq)))
          .orderBy(asc(runEvents.seq))
          .limit(limit)
          .all() as RunEvent[],
    },

    backups: {
      insert: (backup) => void db.insert(backups).values(backup).run(),
      get: (id) => db.select().from(backups).where(eq(backups.id, id)).get() as Backup | undefined,
      update: (id, patch) => void db.update(backups).set(patch).where(eq(backups.id, id)).run(),
      transition: (id, from, to, patch, owner) =>
        db
          .update(backups)
          .set({ ...patch, state: to })
          .where(
            and(
              eq(backups.id, id),
              inArray(backups.state, [...from]),
              owner === undefined
                ? undefined
                : exists(
                    db
                      .select({ id: runs.id })
                      .from(runs)
                      .where(and(eq(runs.id, backups.runId), eq(runs.leaseOwner, owner))),
                  ),
            ),
          )
          .run().changes === 1,
      delete: (id) => void db.delete(backups).where(eq(backups.id, id)).run(),
      list: (filter, limit, marker, opts = {}) => {
        const columns = opts.manifests ? getTableColumns(backups) : backupsWithoutManifest;
        const page = newestFirst(backups, backups.creationDate, backupConditions(filter), limit, marker, columns);
        return { ...page, items: page.items.map((b) => ({ manifest: null, ...b })) } as Page<Backup>;
      },
      last: (filter) =>
        db
          .select()
          .from(backups)
          .where(and(...backupConditions({ ...filter, state: 'available' })))
          .orderBy(desc(backups.creationDate), desc(backups.id))
          .limit(1)
          .get() as Backup | undefined,
      ofRun: (runId) => db.select().from(backups).where(eq(backups.runId, runId)).orderBy(asc(backups.node)).all() as Backup[],
      inStates: (states) => db.select().from(backups).where(inArray(backups.state, states)).all() as Backup[],
    },

    restores: {
      insert: (restore) => void db.insert(restores).values(restore).run(),
      get: (id) => db.select().from(restores).where(eq(restores.id, id)).get() as Restore | undefined,
      update: (id, patch) => void db.update(restores).set(patch).where(eq(restores.id, id)).run(),
      transition: (id, from, to, patch) =>
        db
          .update(restores)
          .set({ ...patch, state: to })
          .where(and(eq(restores.id, id), inArray(restores.state, [...from])))
          .run().changes === 1,
      liveForBackup: (backupId) =>
        db
          .select({ id: restores.id })
          .from(restores)
          .where(and(eq(restores.backupId, backupId), inArray(restores.state, liveRestoreStates)))
          .get() !== undefined,
      liveForNode: (node) =>
        db
          .select()
          .from(restores)
          .where(and(eq(restores.node, node), inArray(restores.state, liveRestoreStates)))
          .get() as Restore | undefined,
      byRun: (runId) => db.select().from(restores).where(eq(restores.runId, runId)).get() as Restore | undefined,
      list: (filter, limit, marker) =>
        newestFirst(restores, restores.createdAt, restoreConditions(filter), limit, marker) as Page<Restore>,
      last: (filter) =>
        db
          .select()
          .from(restores)
          .where(and(...restoreConditions(filter)))
          .orderBy(desc(restores.createdAt), desc(restores.id))
          .limit(1)
          .get() as Restore | undefined,
      unfinished: () => db.select().from(restores).where(inArray(restores.state, liveRestoreStates)).all() as Restore[],
    },

    nodeLocks: {
      heldAmong: (names) =>
        names.length === 0
          ? undefined
          : db
              .select({ node: nodeLocks.node, runId: nodeLocks.runId, kind: runs.kind, restoreId: restores.id })
              .from(nodeLocks)
              .innerJoin(runs, eq(runs.id, nodeLocks.runId))
              .leftJoin(restores, eq(restores.runId, nodeLocks.runId))
              .where(inArray(nodeLocks.node, names))
              .orderBy(asc(nodeLocks.node))
              .limit(1)
              .get(),
      take: (runId, names) => {
        if (names.length > 0)
          db.insert(nodeLocks)
            .values(names.map((node) => ({ node, runId })))
            .run();
      },
      release: (runId) => void db.delete(nodeLocks).where(eq(nodeLocks.runId, runId)).run(),
    },

    nodes: {
      upsert: (node) => {
        const updatedAt = Date.now();
        db.insert(nodes)
          .values({ ...node, updatedAt })
          .onConflictDoUpdate({ target: nodes.name, set: { target: node.target, address: node.address, updatedAt } })
          .run();
      },
      hostKey: (name) => db.select({ k: nodes.hostKeySha256 }).from(nodes).where(eq(nodes.name, name)).get()?.k ?? null,
      pinHostKey: (name, sha256) => void db.update(nodes).set({ hostKeySha256: sha256 }).where(eq(nodes.name, name)).run(),
      setIdentity: (name, identity) => {
        const patch = {
          macs: identity.macs,
          updatedAt: Date.now(),
          ...(identity.ironicUuid ? { ironicUuid: identity.ironicUuid } : {}),
        };
        db.update(nodes).set(patch).where(eq(nodes.name, name)).run();
      },
      list: (filter) =>
        db
          .select(nodeColumns)
          .from(nodes)
          .where(filter.target ? eq(nodes.target, filter.target) : undefined)
          .orderBy(asc(nodes.name))
          .all(),
      find: (id) =>
        db
          .select(nodeColumns)
          .from(nodes)
          .where(or(eq(nodes.name, id), sql`lower(${nodes.ironicUuid}) = lower(${id})`))
          .orderBy(sql`${nodes.name} = ${id} desc`)
          .limit(1)
          .get(),
    },
  };
}

const { manifest: _manifest, ...backupsWithoutManifest } = getTableColumns(backups);

const nodeColumns = {
  name: nodes.name,
  target: nodes.target,
  address: nodes.address,
  macs: nodes.macs,
  ironicUuid: nodes.ironicUuid,
  updatedAt: nodes.updatedAt,
};
