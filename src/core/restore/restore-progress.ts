import type { RecordsContext } from '../context.ts';
import { restorePhases, type Restore, type RestorePhase } from '../model.ts';
import type { BootFetch, RestoreFileTarget } from '../ports.ts';
import { isLiveRestore } from '../runs/transitions.ts';

/**
 * What the rescue system reports back to the daemon while it restores a node: `archive_mismatch`
 * when the archive its restore read (streamed from the daemon) did not have the manifest's sha256.
 */
export const rescueReports = ['rescue_booted', 'archive_fetched', 'archive_mismatch', 'recovered', 'recover_failed'] as const;
export type RescueReport = (typeof rescueReports)[number];

export class PhaseTimeout extends Error {}
/** A failure the rescue system reported, with the phase it failed (not the phase being awaited). */
export class RescueFailure extends Error {
  constructor(
    readonly phase: RestorePhase,
    message: string,
  ) {
    super(message);
  }
}

/** The reports that fail a restore: the phase each fails and why. */
const failureReports: Record<
  'recover_failed' | 'archive_mismatch',
  (restore: Restore) => { phase: RestorePhase; reason: string }
> = {
  recover_failed: () => ({ phase: 'recovered', reason: 'rear recover failed on the node' }),
  archive_mismatch: (restore) => ({
    phase: 'archive_fetched',
    reason: `the archive the rescue system read differs from backup ${restore.backupId}'s manifest (sha256 mismatch)`,
  }),
};

/**
 * Restore files whose fetch marks a phase, and the backup's artefact name the journal calls them
 * by; the overlay marks nothing, and the archive's arrival is the rescue system's to report.
 */
const fileMilestones: Partial<Record<RestoreFileTarget['artefact'], { phase: RestorePhase; name: string }>> = {
  kernel: { phase: 'kernel_fetched', name: 'kernel' },
  initrd: { phase: 'initrd_fetched', name: 'initrd.cgz' },
};

/**
 * Follows live restores from what their nodes do: boot files fetched (from the TFTP and HTTP boot
 * servers) and reports from the rescue system. Each milestone is recorded once, in order of
 * arrival, with its time; a restore waits on the milestones it needs with a timeout per phase.
 */
export class RestoreProgress {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly failures = new Map<string, { phase: RestorePhase; reason: string }>();

  constructor(private readonly ctx: RecordsContext) {}

  /** A boot server's record of one request. */
  observe(fetch: BootFetch): void {
    const { target } = fetch;
    if (fetch.outcome !== 'sent' || !target) return;
    if (target.artefact === 'config') {
      const restore = this.ctx.records.restores.unfinished().find((r) => r.macs.includes(target.mac));
      if (restore) this.reach(restore.id, 'boot_config_fetched', `${fetch.protocol}: ${fetch.path} sent to ${fetch.client}`);
      return;
    }
    const milestone = fileMilestones[target.artefact];
    if (milestone) {
      const message = `${fetch.protocol}: ${milestone.name} sent to ${fetch.client} (${fetch.bytes} bytes)`;
      this.reach(target.restoreId, milestone.phase, message);
    }
  }

  /** A report from the rescue system. False when no live restore has that id. */
  report(restoreId: string, what: RescueReport): boolean {
    const restore = this.live(restoreId);
    if (!restore) return false;
    if (what === 'recover_failed' || what === 'archive_mismatch') {
      const failure = failureReports[what](restore);
      const event = what === 'recover_failed' ? 'recover' : failure.phase;
      this.ctx.journal.record(restore.runId, event, failure.reason, { level: 'error', host: restore.node });
      // The first failure is the restore's: a mismatch is followed by the recover_failed it causes.
      if (!this.failures.has(restoreId)) this.failures.set(restoreId, failure);
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
   * `timeoutMs`, with RescueFailure when the rescue system reports a failure, and with the
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
        if (failure) done(new RescueFailure(failure.phase, failure.reason));
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
    return r && isLiveRestore(r.state) ? r : undefined;
  }

  private notify(restoreId: string): void {
    for (const check of [...(this.waiters.get(restoreId) ?? [])]) check();
  }
}
