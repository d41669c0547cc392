import type { CoreContext } from './context.ts';
import { restorePhases, type Restore, type RestorePhase } from './model.ts';
import type { BootFetch } from './ports.ts';

/** What the rescue system reports back to the daemon while it restores a node. */
export const rescueReports = ['rescue_booted', 'archive_fetched', 'recovered', 'recover_failed'] as const;
export type RescueReport = (typeof rescueReports)[number];

export class PhaseTimeout extends Error {}
export class RescueFailure extends Error {}

/** Boot files whose fetch marks a phase; the rest of a restore's dir (the overlay) marks nothing. */
const fileMilestones: Record<string, RestorePhase> = {
  kernel: 'kernel_fetched',
  'initrd.cgz': 'initrd_fetched',
};

const macOf = (file: string): string | null => {
  const m = /(?:^|\/)(?:01-|grub\.cfg-01-|ipxe\/)([0-9a-f]{2}(?:-[0-9a-f]{2}){5})(?:\.ipxe)?$/i.exec(file);
  return m ? m[1]!.toLowerCase().replaceAll('-', ':') : null;
};

/**
 * Follows live restores from what their nodes do: boot files fetched (from the TFTP and HTTP boot
 * servers) and reports from the rescue system. Each milestone is recorded once, in order of
 * arrival, with its time; a restore waits on the milestones it needs with a timeout per phase.
 */
export class RestoreProgress {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly failures = new Map<string, string>();

  constructor(private readonly ctx: CoreContext) {}

  /** A boot server's record of one request. */
  observe(fetch: BootFetch): void {
    if (fetch.outcome !== 'sent') return;
    const staged = /^rearguard\/(rs_[0-9a-z]{26})\/([^/]+)$/.exec(fetch.file);
    if (staged) {
      const phase = fileMilestones[staged[2]!];
      if (phase) this.reach(staged[1]!, phase, `${fetch.protocol}: ${staged[2]} sent to ${fetch.client} (${fetch.bytes} bytes)`);
      return;
    }
    const mac = macOf(fetch.file);
    if (!mac) return;
    const restore = this.ctx.records.restores.unfinished().find((r) => r.macs.includes(mac));
    if (restore) this.reach(restore.id, 'boot_config_fetched', `${fetch.protocol}: ${fetch.file} sent to ${fetch.client}`);
  }

  /** A report from the rescue system. False when no live restore has that id. */
  report(restoreId: string, what: RescueReport): boolean {
    const restore = this.live(restoreId);
    if (!restore) return false;
    if (what === 'recover_failed') {
      this.failures.set(restoreId, 'rear recover failed on the node');
      this.ctx.journal.record(restore.runId, 'recover', this.failures.get(restoreId)!, { level: 'error', host: restore.node });
      this.notify(restoreId);
      return true;
    }
    this.reach(restoreId, what, `rescue system of ${restore.node} reports ${what.replace('_', ' ')}`);
    return true;
  }

  /** Records a milestone once, then wakes whoever waits on it. */
  reach(restoreId: string, phase: RestorePhase, message: string, data?: Record<string, unknown>): void {
    const restore = this.live(restoreId) ?? (phase === 'cleaned_up' ? this.ctx.records.restores.get(restoreId) : undefined);
    if (!restore || restore.phases[phase] !== undefined) return;
    const at = this.ctx.clock.now();
    this.ctx.records.restores.update(restoreId, { phases: { ...restore.phases, [phase]: at }, updatedAt: at });
    this.ctx.journal.record(restore.runId, phase, message, { host: restore.node, ...(data ? { data } : {}) });
    this.notify(restoreId);
  }

  /**
   * Resolves once `phase` (or any later one) is reached; rejects with PhaseTimeout after
   * `timeoutMs`, with RescueFailure when the rescue system reports a failed recover, and with the
   * signal's reason when the restore is stopped.
   */
  until(restoreId: string, phase: RestorePhase, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const index = restorePhases.indexOf(phase);
    const reached = () => {
      const r = this.ctx.records.restores.get(restoreId);
      return !!r && restorePhases.slice(index).some((p) => r.phases[p] !== undefined);
    };
    return new Promise<void>((resolve, reject) => {
      const set = this.waiters.get(restoreId) ?? new Set<() => void>();
      this.waiters.set(restoreId, set);
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        set.delete(check);
        if (set.size === 0) this.waiters.delete(restoreId);
        if (err) reject(err);
        else resolve();
      };
      const check = () => {
        const failure = this.failures.get(restoreId);
        if (failure) done(new RescueFailure(failure));
        else if (reached()) done();
      };
      const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
      const timer = setTimeout(
        () => done(new PhaseTimeout(`no ${phase.replace('_', ' ')} within ${Math.round(timeoutMs / 1000)} s`)),
        timeoutMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      set.add(check);
      if (signal.aborted) onAbort();
      else check();
    });
  }

  /** Forgets what was kept in memory for a restore that has ended. */
  forget(restoreId: string): void {
    this.failures.delete(restoreId);
  }

  private live(restoreId: string): Restore | undefined {
    const r = this.ctx.records.restores.get(restoreId);
    return r && (r.state === 'queued' || r.state === 'running') ? r : undefined;
  }

  private notify(restoreId: string): void {
    for (const check of [...(this.waiters.get(restoreId) ?? [])]) check();
  }
}
