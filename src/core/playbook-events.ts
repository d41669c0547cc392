import type { CoreContext } from './context.ts';
import type { Phase } from './model.ts';
import { phaseOfTask } from './playbook-vars.ts';
import type { PlaybookEvent } from './ports.ts';

/**
 * The tasks between which a host is being imaged (backup.yml's rear_image role): their host
 * events also become `image started`/`image finished` events, so that whether the nodes were
 * imaged one by one (stopall=no) or together (stopall=yes) can be read from the run's record.
 */
const IMAGE_STARTS = 'image: note the consistency point';
const IMAGE_ENDS = 'image: rear mkbackup';

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
        if (e.task === IMAGE_STARTS) {
          ctx.journal.record(runId, 'image', `image started on ${e.host}`, { host: e.host, data: { image: 'started' } });
        } else if (e.task === IMAGE_ENDS) {
          ctx.journal.record(runId, 'image', `image finished on ${e.host}`, {
            host: e.host,
            data: { image: 'finished', ok: true },
          });
        }
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
        if (e.task === IMAGE_ENDS) {
          ctx.journal.record(runId, 'image', `image failed on ${e.host}`, {
            level: 'error',
            host: e.host,
            data: { image: 'finished', ok: false },
          });
        }
        break;
      case 'stats':
        ctx.journal.record(runId, fallbackPhase, 'playbook finished', { data: { stats: e.stats } });
        break;
    }
  };
}
