import type { CoreContext } from './context.ts';
import { isLive } from './run-state.ts';
import { removeStoredBackup } from './stored-backup.ts';
import { unquiesceRun } from './unquiesce.ts';

/**
 * At start-up, before anything else: runs that a dead daemon left live are marked interrupted, their
 * unfinished backups failed (partial objects removed), and services they may have left stopped are
 * restarted. A run whose unquiesce fails keeps `quiesceOpen` and is retried at the next start.
 */
export async function recoverInterruptedRuns(ctx: CoreContext): Promise<void> {
  for (const run of ctx.records.runs.unfinished()) {
    if (isLive(run.state)) {
      const lease = run.leaseExpiresAt ? ` (its lease expired ${new Date(run.leaseExpiresAt).toISOString()})` : '';
      const reason = `the daemon stopped while this run was ${run.state}${lease}`;
      ctx.records.runs.update(run.id, {
        state: 'interrupted',
        error: reason,
        finishedAt: ctx.clock.now(),
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      ctx.journal.record(run.id, 'recovery', `run interrupted: ${reason}`, { level: 'error' });
    }
    const backups = ctx.records.backups.ofRun(run.id);
    for (const b of backups) {
      if (b.state !== 'pending' && b.state !== 'transferring') continue;
      ctx.records.backups.update(b.id, { state: 'failed', error: 'run interrupted', updatedAt: ctx.clock.now() });
      await removeStoredBackup(ctx.storage, b).catch((err: Error) =>
        ctx.journal.record(run.id, 'recovery', `partial objects of ${b.id} not removed: ${err.message}`, { level: 'warn' }),
      );
    }
    if (run.quiesceOpen) await unquiesceRun(ctx, ctx.records.runs.get(run.id)!, backups);
  }
}
