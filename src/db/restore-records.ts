import { and, desc, eq, inArray, type SQL } from 'drizzle-orm';
import type { Page, Restore, RestoreFilter } from '../core/model.ts';
import type { Records } from '../core/ports.ts';
import { liveRestoreStates } from '../core/runs/transitions.ts';
import type { Db } from './client.ts';
import { newestFirst } from './newest-first.ts';
import { restores } from './schema.ts';

function restoreConditions(filter: RestoreFilter): SQL[] {
  const conds: SQL[] = [];
  if (filter.node) conds.push(eq(restores.node, filter.node));
  if (filter.backupId) conds.push(eq(restores.backupId, filter.backupId));
  if (filter.state) conds.push(eq(restores.state, filter.state));
  return conds;
}

export const restoreRecords = (db: Db): Records['restores'] => ({
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
    newestFirst(db, restores, restores.createdAt, restoreConditions(filter), limit, marker) as Page<Restore>,
  last: (filter) =>
    db
      .select()
      .from(restores)
      .where(and(...restoreConditions(filter)))
      .orderBy(desc(restores.createdAt), desc(restores.id))
      .limit(1)
      .get() as Restore | undefined,
  unfinished: () => db.select().from(restores).where(inArray(restores.state, liveRestoreStates)).all() as Restore[],
});
