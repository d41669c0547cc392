import type { CoreContext } from './context.ts';
import type { Phase } from './model.ts';
import { phaseOfTask } from './playbook-vars.ts';
import type { PlaybookEvent } from './ports.ts';

/** Turns the playbook's live event stream into run events. */
export function followPlaybook(ctx: CoreContext, runId: string, fallbackPhase: Phase = 'run'): (e: PlaybookEvent) => void {
  const phase = (task: string) => {
    const p = phaseOfTask(task);
    return p === 'run' ? fallbackPhase : p;
  };
  return (e) => {
    switch (e.type) {
      case 'task_start':
        ctx.journal.record(runId, phase(e.task), `task started: ${e.task}`);
        break;
      case 'host_ok':
        ctx.journal.record(runId, phase(e.task), `ok: ${e.task}`, { host: e.host, data: { changed: e.changed ?? false } });
        break;
      case 'host_skipped':
        break;
      case 'host_failed':
      case 'host_unreachable':
        ctx.journal.record(
          runId,
          phase(e.task),
          `${e.type === 'host_failed' ? 'failed' : 'unreachable'}: ${e.task}: ${e.message ?? 'no message'}`,
          { level: 'error', host: e.host },
        );
        break;
      case 'stats':
        ctx.journal.record(runId, fallbackPhase, 'playbook finished', { data: { stats: e.stats } });
        break;
    }
  };
}
