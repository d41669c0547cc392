import { phaseOfTask } from './playbook-vars.ts';
import type { PlaybookEvent } from './ports.ts';

export interface HostFailure {
  host: string;
  task: string;
  message: string;
}

/**
 * What a backup playbook did to each host, read from its event stream: where a host first failed
 * (the cause, not the consequences a rescue or a later play adds), which hosts got through the
 * image phase, and whether quiesce ever began (if not, nothing was stopped anywhere).
 */
export class PlaybookOutcome {
  private readonly failures = new Map<string, HostFailure>();
  private readonly imagedHosts = new Set<string>();
  quiesceStarted = false;

  observe = (e: PlaybookEvent): void => {
    if (e.type === 'task_start') {
      if (phaseOfTask(e.task) === 'quiesce') this.quiesceStarted = true;
    } else if (e.type === 'host_failed' || e.type === 'host_unreachable') {
      if (!this.failures.has(e.host)) {
        const message = e.type === 'host_unreachable' ? `host unreachable: ${e.message ?? ''}` : (e.message ?? 'no message');
        this.failures.set(e.host, { host: e.host, task: e.task, message });
      }
    } else if (e.type === 'host_ok' && phaseOfTask(e.task) === 'image') {
      this.imagedHosts.add(e.host);
    }
  };

  failureOf(host: string): HostFailure | undefined {
    return this.failures.get(host);
  }

  /** A host got through imaging if it ran image tasks and never failed. */
  imaged(host: string): boolean {
    return this.imagedHosts.has(host) && !this.failures.has(host);
  }

  /** The first host that failed preflight: then no host was quiesced. */
  preflightFailure(): HostFailure | undefined {
    return [...this.failures.values()].find((f) => phaseOfTask(f.task) === 'preflight');
  }

  /** The failure that made ansible stop before reaching other hosts (the first failure of all). */
  firstFailure(): HostFailure | undefined {
    return this.failures.values().next().value;
  }
}
