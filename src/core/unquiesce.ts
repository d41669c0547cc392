import type { CoreContext } from './context.ts';
import type { Backup, Run } from './model.ts';
import { playbookVars } from './playbook-vars.ts';
import { followPlaybook } from './playbook-events.ts';

/**
 * Starts again whatever a run's quiesce stopped, on every host of the run. Idempotent: the nodes
 * record what was stopped, so a second pass does nothing. Returns true when every host is back.
 */
export async function unquiesceRun(ctx: CoreContext, run: Run, backups: Backup[]): Promise<boolean> {
  if (backups.length === 0) return true;
  ctx.journal.record(run.id, 'unquiesce', `restarting services stopped by this run on ${backups.map((b) => b.node).join(', ')}`);
  const result = await ctx.playbooks.run({
    playbook: 'unquiesce.yml',
    extraVars: playbookVars(ctx, run, backups),
    onEvent: followPlaybook(ctx, run.id, 'unquiesce'),
  });
  const ok = result.exitCode === 0 && !result.cancelled;
  if (ok) {
    ctx.records.runs.update(run.id, { quiesceOpen: false });
    ctx.journal.record(run.id, 'unquiesce', 'services are running again on every host');
  } else {
    const why = result.failures.map((f) => `${f.host}: ${f.message}`).join('; ') || `ansible-playbook exit ${result.exitCode}`;
    ctx.journal.record(run.id, 'unquiesce', `services may still be stopped: ${why}`, { level: 'error' });
  }
  return ok;
}
