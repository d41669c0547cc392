import type { BackupContext } from '../context.ts';
import { notFound, RearguardError } from '../errors.ts';
import type { Backup, BackupFilter, Page } from '../model.ts';
import { markDeleting } from '../runs/backup-lifecycle.ts';
import { isLiveBackup } from '../runs/transitions.ts';
import { removeStoredBackup } from './stored-backup.ts';

/** Reading and deleting backup records. The records are the truth; storage is not scanned to find backups. */
export function listBackups(
  ctx: BackupContext,
  filter: BackupFilter,
  page: { limit: number; marker?: string; manifests: boolean },
): Page<Backup> {
  return ctx.records.backups.list(filter, page.limit, page.marker, { manifests: page.manifests });
}

export function getBackup(ctx: BackupContext, id: string): Backup {
  const backup = ctx.records.backups.get(id);
  if (!backup) throw notFound('backup', id);
  return backup;
}

export function lastBackup(ctx: BackupContext, filter: Omit<BackupFilter, 'state'>): Backup {
  const backup = ctx.records.backups.last(filter);
  if (!backup) {
    const scope = [filter.target && `target ${filter.target}`, filter.node && `node ${filter.node}`].filter(Boolean).join(', ');
    throw new RearguardError('not_found', `no available backup${scope ? ` for ${scope}` : ''}`);
  }
  return backup;
}

/**
 * Removes a backup's stored objects, then its record. A backup still being made, or being restored,
 * cannot be deleted. If storage fails midway the record stays, in state `deleting`, so that objects
 * are never left without a record.
 */
export async function deleteBackup(ctx: BackupContext, id: string): Promise<void> {
  const backup = ctx.records.transaction(() => {
    const b = getBackup(ctx, id);
    if (isLiveBackup(b.state)) {
      throw new RearguardError('conflict', `backup ${id} is still being made by run ${b.runId}`, { run_id: b.runId });
    }
    if (ctx.records.restores.liveForBackup(id)) {
      throw new RearguardError('conflict', `backup ${id} is being restored; delete it after the restore ends`);
    }
    if (!markDeleting(ctx, id)) throw new RearguardError('conflict', `backup ${id} is already being deleted`);
    return b;
  });
  try {
    await finishDelete(ctx, backup);
  } catch (err) {
    throw new RearguardError(
      'unavailable',
      `storage refused to delete backup ${id}: ${(err as Error).message}; the backup is kept in state deleting and retried`,
    );
  }
}

async function finishDelete(ctx: BackupContext, backup: Backup): Promise<void> {
  try {
    await removeStoredBackup(ctx.storage, backup);
  } catch (err) {
    ctx.records.backups.update(backup.id, { error: `delete failed: ${(err as Error).message}`, updatedAt: ctx.clock.now() });
    throw err;
  }
  ctx.records.backups.delete(backup.id);
  ctx.log.info({ backup: backup.id }, 'backup deleted');
}

/** Deletes that storage refused earlier are tried again (at start-up), so no record outlives its delete for long. */
export async function resumeDeletes(ctx: BackupContext): Promise<void> {
  for (const backup of ctx.records.backups.inStates(['deleting'])) {
    await finishDelete(ctx, backup).catch((err: Error) =>
      ctx.log.warn({ backup: backup.id, err: err.message }, 'delete still refused by storage; kept in state deleting'),
    );
  }
}
