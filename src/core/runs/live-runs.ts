import type { RecordsContext } from '../context.ts';
import { finishRun } from './run-lifecycle.ts';

/** Why a run was stopped before its end: an operator's cancel, the daemon shutting down, or its lease taken by another daemon. */
export type StopReason = 'cancelled' | 'shutdown' | 'lease_lost';

interface LiveRun {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The runs this daemon is executing: their leases are renewed while they live, and they can be
 * stopped at a safe point (cancel) or all at once (shutdown).
 */
export class LiveRuns {
  private readonly live = new Map<string, LiveRun>();
  /** Targets whose next run is being admitted (its hosts being read), with the id it will have. */
  private readonly admitting = new Map<string, string>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: RecordsContext) {
    this.heartbeat = setInterval(() => this.renewLeases(), Math.max(1000, Math.floor(ctx.leaseMs / 3)));
    this.heartbeat.unref();
  }

  start(runId: string, execute: (signal: AbortSignal) => Promise<void>): void {
    const controller = new AbortController();
    const done = execute(controller.signal)
      .catch((err: Error) => this.failUnexpectedly(runId, err))
      .finally(() => this.live.delete(runId));
    this.live.set(runId, { controller, done });
  }

  /**
   * Runs `admit` with the target claimed for `runId`: while it runs, another admission on the
   * target is refused at once with the claimant's id (a burst of requests waits for nobody's
   * inventory read). The claim is this daemon's only; the database settles races beyond it.
   */
  async admitOn<T>(target: string, runId: string, admit: () => Promise<T>, refuse: (claimant: string) => Error): Promise<T> {
    const claimant = this.admitting.get(target);
    if (claimant) throw refuse(claimant);
    this.admitting.set(target, runId);
    try {
      return await admit();
    } finally {
      this.admitting.delete(target);
    }
  }

  isExecuting(runId: string): boolean {
    return this.live.has(runId);
  }

  stop(runId: string, reason: StopReason): boolean {
    const run = this.live.get(runId);
    if (!run) return false;
    run.controller.abort(reason);
    return true;
  }

  /** Stops every run at its next safe point and waits until each has restarted services and recorded its end. */
  async shutdown(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const run of this.live.values()) run.controller.abort('shutdown' satisfies StopReason);
    await Promise.all([...this.live.values()].map((r) => r.done));
  }

  /** Resolves when every run started so far has ended (tests and benchmarks wait on this). */
  async settled(): Promise<void> {
    while (this.live.size > 0) await Promise.all([...this.live.values()].map((r) => r.done));
  }

  /** A run whose lease another daemon took stops at its next safe point; its end is then not this daemon's to write. */
  private renewLeases(): void {
    const expires = this.ctx.clock.now() + this.ctx.leaseMs;
    for (const [id, run] of this.live) {
      if (this.ctx.records.runs.renewLease(id, this.ctx.instanceId, expires) || run.controller.signal.aborted) continue;
      this.ctx.log.warn({ run: id }, 'run lease taken by another daemon: stopping the run here');
      run.controller.abort('lease_lost' satisfies StopReason);
    }
  }

  /** A bug, not an expected failure: still, the records must end true. */
  private failUnexpectedly(runId: string, err: Error): void {
    this.ctx.log.error({ run: runId, err }, 'run failed unexpectedly');
    finishRun(this.ctx, runId, 'failed', `internal error: ${err.message}`);
  }
}
