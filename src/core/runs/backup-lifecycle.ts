import type { Backup, BackupState } from '../model.ts';
import type { BackupPatch } from '../ports.ts';
import type { RecordsContext } from '../context.ts';
import { backupTransitions, sourcesOf } from './transitions.ts';

/**
 * Compare-and-set of a backup's state from wherever the table allows `to`, while its run is this
 * daemon's (unless `owned` is false: a delete, or the run's own end); false when another writer
 * moved it first or the run's lease was taken.
 */
function move(ctx: RecordsContext, id: string, to: BackupState, patch: BackupPatch = {}, owned = true): boolean {
  const from = sourcesOf(backupTransitions, to);
  return ctx.records.backups.transition(
    id,
    from,
    to,
    { ...patch, updatedAt: ctx.clock.now() },
    owned ? ctx.instanceId : undefined,
  );
}

/** pending -> transferring: its node imaged it, and the transfer to storage begins. */
export const transferBackup = (ctx: RecordsContext, id: string): boolean => move(ctx, id, 'transferring');

/** transferring -> available: stored and verified, with what was stored. */
export const completeBackup = (
  ctx: RecordsContext,
  id: string,
  stored: Pick<Backup, 'locationUrl' | 'size' | 'sha256' | 'manifest'>,
): boolean => move(ctx, id, 'available', { ...stored, error: null });

/** pending or transferring -> failed, with why; recorded in the run's journal. */
export function failBackup(
  ctx: RecordsContext,
  backup: Pick<Backup, 'id' | 'node' | 'runId'>,
  error: string,
  opts: { owned?: boolean } = {},
): boolean {
  if (!move(ctx, backup.id, 'failed', { error }, opts.owned ?? true)) return false;
  ctx.journal.record(backup.runId, 'run', `backup ${backup.id} failed: ${error}`, { level: 'error', host: backup.node });
  return true;
}

/** available or failed -> deleting: from here its objects are removed, then its record. */
export const markDeleting = (ctx: RecordsContext, id: string): boolean => move(ctx, id, 'deleting', {}, false);
