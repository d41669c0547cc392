import type { Phase } from '../core/model.ts';
import type { AgentEvent } from '../core/ports.ts';
import { phaseOfTask } from './backup-vars.ts';
import type { PlaybookEvent } from './events.ts';

/**
 * The tasks between which a host is being imaged (backup.yml's rear_image role): their host
 * events also become `image started`/`image finished` events, so that whether the nodes were
 * imaged one by one (stopall=no) or together (stopall=yes) can be read from the run's record.
 */
const IMAGE_STARTS = 'image: note the consistency point';
const IMAGE_ENDS = 'image: rear mkbackup';

/** Turns a playbook's live event stream into the agent's steps, as the run's journal records them. */
export function agentEvents(emit: (e: AgentEvent) => void, fallbackPhase: Phase = 'run'): (e: PlaybookEvent) => void {
  const phase = (task: string) => {
    const p = phaseOfTask(task);
    return p === 'run' ? fallbackPhase : p;
  };
  const info = (phase: Phase, message: string, host: string | null = null, data?: Record<string, unknown>) =>
    emit({ phase, host, level: 'info', message, ...(data ? { data } : {}) });
  return (e) => {
    switch (e.type) {
      case 'task_start':
        info(phase(e.task), `task started: ${e.task}`);
        break;
      case 'host_ok':
        info(phase(e.task), `ok: ${e.task}`, e.host, { changed: e.changed ?? false });
        if (e.task === IMAGE_STARTS) info('image', `image started on ${e.host}`, e.host, { image: 'started' });
        else if (e.task === IMAGE_ENDS) info('image', `image finished on ${e.host}`, e.host, { image: 'finished', ok: true });
        break;
      case 'host_skipped':
        break;
      case 'host_failed':
      case 'host_unreachable':
        emit({
          phase: phase(e.task),
          host: e.host,
          level: 'error',
          message: `${e.type === 'host_failed' ? 'failed' : 'unreachable'}: ${e.task}: ${e.message ?? 'no message'}`,
        });
        if (e.task === IMAGE_ENDS) {
          emit({
            phase: 'image',
            host: e.host,
            level: 'error',
            message: `image failed on ${e.host}`,
            data: { image: 'finished', ok: false },
          });
        }
        break;
      case 'stats':
        info(fallbackPhase, 'playbook finished', null, { stats: e.stats });
        break;
    }
  };
}
