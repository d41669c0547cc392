import type { RecordsContext } from '../context.ts';
import { notFound, RearguardError } from '../errors.ts';
import type { Page, Restore, RestoreFilter } from '../model.ts';

/** The restore history, newest first. */
export function listRestores(ctx: RecordsContext, filter: RestoreFilter, limit: number, marker?: string): Page<Restore> {
  return ctx.records.restores.list(filter, limit, marker);
}

export function getRestore(ctx: RecordsContext, id: string): Restore {
  const restore = ctx.records.restores.get(id);
  if (!restore) throw notFound('restore', id);
  return restore;
}

export function lastRestore(ctx: RecordsContext, filter: Omit<RestoreFilter, 'state'>): Restore {
  const restore = ctx.records.restores.last(filter);
  if (!restore) {
    const scope = [filter.node && `node ${filter.node}`, filter.backupId && `backup ${filter.backupId}`]
      .filter(Boolean)
      .join(', ');
    throw new RearguardError('not_found', `no restore${scope ? ` of ${scope}` : ''} on record`);
  }
  return restore;
}
