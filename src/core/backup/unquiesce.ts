import type { BackupContext } from '../context.ts';
import type { Backup, Run } from '../model.ts';
import type { AgentEvent } from '../ports.ts';

/** Journals the backup agent's steps as the run's events. */
export const journalAgent =
  (ctx: Pick<BackupContext, 'journal'>, runId: string) =>
  (e: AgentEvent): void =>
    void ctx.journal.record(runId, e.phase, e.message, { level: e.level, host: e.host, ...(e.data ? { data: e.data } : {}) });

/**
 * Starts again whatever a run's quiesce stopped, on every host of the run, and has the agent
 * remove what the run left there, with the staged images of `discard` (backups nothing will
 * transfer). Idempotent: the nodes record what was stopped, so a second pass does nothing.
 * Returns true when every host is back.
 */
export async function unquiesceRun(ctx: BackupContext, run: Run, backups: Backup[], discard: string[]): Promise<boolean> {
  if (backups.length === 0) return true;
  ctx.journal.record(run.id, 'unquiesce', `restarting services stopped by this run on ${backups.map((b) => b.node).join(', ')}`);
  const result = await ctx.agent.unquiesce({ run, backups, discard, onEvent: journalAgent(ctx, run.id) });
  if (result.ok) {
    ctx.records.runs.update(run.id, { quiesceOpen: false });
    ctx.journal.record(run.id, 'unquiesce', 'services are running again on every host');
  } else {
    ctx.journal.record(run.id, 'unquiesce', `services may still be stopped: ${result.failure}`, { level: 'error' });
  }
  return result.ok;
}
