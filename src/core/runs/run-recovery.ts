import type { BackupContext } from '../context.ts';
import type { Backup } from '../model.ts';
import { claimRun, finishRun } from './run-lifecycle.ts';
import { isLive, isLiveBackup } from './transitions.ts';
import { removeStoredBackup } from '../backup/stored-backup.ts';
import { unquiesceRun } from '../backup/unquiesce.ts';

/**
 * At start-up, before the daemon serves anything: runs a dead daemon left live end interrupted,
 * with their backups still being made, their restores and their node locks (records only, so the
 * truth is told at once). Returns the backups whose partial objects `recoverDeadRuns` removes.
 */
export function closeDeadRuns(ctx: BackupContext): Backup[] {
  const partial: Backup[] = [];
  for (const run of ctx.records.runs.unfinished()) {
    // The instance lock says the run's owner is dead (it died holding it), so its lease need not
    // lapse first; the claim still settles a race with any other recoverer.
    if (!isLive(run.state) || !claimRun(ctx, run)) continue;
    partial.push(...ctx.records.backups.ofRun(run.id).filter((b) => isLiveBackup(b.state)));
    const lease = run.leaseExpiresAt ? ` (its lease expired ${new Date(run.leaseExpiresAt).toISOString()})` : '';
    const noun = run.kind === 'restore' ? 'restore' : 'run';
    const after = run.kind === 'restore' ? '; its boot configs were removed at the next start' : '';
    const reason = `the daemon stopped during this ${noun} (while ${run.state}${lease})${after}`;
    ctx.journal.record(run.id, 'recovery', `found ${run.state} with no daemon executing it: interrupted`, { level: 'error' });
    finishRun(ctx, run.id, 'interrupted', reason);
  }
  return partial;
}

/**
 * Then, once the daemon listens: the partial objects of interrupted backups are removed, and
 * services that runs may have left stopped are restarted. A run whose unquiesce fails keeps
 * `quiesceOpen` and is retried at the next start.
 */
export async function recoverDeadRuns(ctx: BackupContext, partial: Backup[]): Promise<void> {
  for (const b of partial) {
    await removeStoredBackup(ctx.storage, b).catch((err: Error) =>
      ctx.journal.record(b.runId, 'recovery', `partial objects of ${b.id} not removed: ${err.message}`, { level: 'warn' }),
    );
  }
  // Runs closed at this start, and runs whose services may still be stopped: the agent restarts
  // services and removes what each left on its nodes (images nothing will transfer included).
  const closed = new Set(partial.map((b) => b.runId));
  for (const run of ctx.records.runs.unfinished()) closed.add(run.id);
  for (const id of closed) {
    const run = ctx.records.runs.get(id)!;
    if (run.kind !== 'backup') continue;
    const backups = ctx.records.backups.ofRun(id);
    const discard = backups.filter((b) => b.state !== 'available').map((b) => b.id);
    await unquiesceRun(ctx, run, backups, discard);
  }
}
