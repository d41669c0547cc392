import type { ImagingOutcome } from '../core/ports.ts';
import { phaseOfTask } from './backup-vars.ts';
import type { PlaybookEvent } from './events.ts';
import type { PlaybookResult } from './playbook-run.ts';

interface HostFailure {
  host: string;
  task: string;
  message: string;
}

/** How much of ansible's stderr explains a playbook that ended before any task failed. */
const STDERR_IN_REASON = 500;

/** `ansible-playbook ended (exit N)<how>`, then the end of what ansible said on stderr, if anything. */
export function playbookEnd(result: PlaybookResult, how = ''): string {
  const said = result.stderrTail.trim().slice(-STDERR_IN_REASON);
  return `ansible-playbook ended (exit ${result.exitCode})${how}${said ? `: ${said}` : ''}`;
}

/**
 * What a backup playbook did to each host, read from its event stream: where a host first failed
 * (the cause, not the consequences a rescue or a later play adds), which hosts got through the
 * image phase, and whether quiesce ever began (if not, nothing was stopped anywhere).
 */
export class ImagingRecord {
  private readonly failures = new Map<string, HostFailure>();
  private readonly imagedHosts = new Set<string>();
  private quiesceStarted = false;

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

  /** The outcome for `hosts`, once the playbook has ended with `result`. */
  outcome(hosts: string[], result: PlaybookResult): ImagingOutcome {
    const preflight = [...this.failures.values()].find((f) => phaseOfTask(f.task) === 'preflight');
    return {
      clean: result.exitCode === 0 && !result.cancelled,
      cancelled: result.cancelled,
      quiesceStarted: this.quiesceStarted,
      failures: Object.fromEntries(hosts.map((h) => [h, this.failureOf(h, result, preflight)])),
      preflightFailure: preflight
        ? `preflight failed on ${preflight.host}: ${preflight.task}: ${preflight.message}; nothing was stopped on any host`
        : null,
    };
  }

  /**
   * Why a host has no image, if it has none: its own first failure (the cause, say
   * `image: rear mkbackup: …`, not the rescue that followed), or the failure elsewhere that kept
   * ansible from reaching it (a failed preflight anywhere; a node whose services did not come back
   * in a rolling run), or what ansible said when it ended before any task.
   */
  private failureOf(host: string, result: PlaybookResult, preflight: HostFailure | undefined): string | null {
    const own = this.failures.get(host) ?? result.failures.find((x) => x.host === host);
    if (own) return `${own.task}: ${own.message}`;
    if (this.imagedHosts.has(host)) return null;
    if (result.cancelled) return 'playbook cancelled';
    if (preflight)
      return `not started: preflight failed on ${preflight.host} (${preflight.task}: ${preflight.message}); nothing was stopped on any host`;
    const first = this.failures.values().next().value;
    if (first) return `not backed up: the playbook stopped after ${first.host} failed (${first.task}: ${first.message})`;
    return playbookEnd(result, ' without imaging this host');
  }
}
