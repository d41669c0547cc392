import { and, desc, eq, getTableColumns, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { RearguardError } from '../core/errors.ts';
import type { Page } from '../core/model.ts';
import type { Db } from './client.ts';
import { backups, type restores } from './schema.ts';

/** Keyset pagination, newest first: a page strictly after the marker in (time desc, id desc) order. */
export function newestFirst(
  db: Db,
  table: typeof backups | typeof restores,
  time: SQLiteColumn,
  conds: SQL[],
  limit: number,
  marker: string | undefined,
  columns: Record<string, SQLiteColumn> = getTableColumns(table),
): Page<{ id: string }> {
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
}
