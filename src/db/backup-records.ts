import { and, asc, desc, eq, exists, getTableColumns, inArray, type SQL } from 'drizzle-orm';
import type { Backup, BackupFilter, Page } from '../core/model.ts';
import type { Records } from '../core/ports.ts';
import type { Db } from './client.ts';
import { newestFirst } from './newest-first.ts';
import { backups, runs } from './schema.ts';

const { manifest: _manifest, ...backupsWithoutManifest } = getTableColumns(backups);

function backupConditions(filter: BackupFilter): SQL[] {
  const conds: SQL[] = [];
  if (filter.target) conds.push(eq(backups.target, filter.target));
  if (filter.node) conds.push(eq(backups.node, filter.node));
  if (filter.state) conds.push(eq(backups.state, filter.state));
  return conds;
}

export const backupRecords = (db: Db): Records['backups'] => ({
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
    const page = newestFirst(db, backups, backups.creationDate, backupConditions(filter), limit, marker, columns);
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
});
