import type { RestorePhase, RestoreState, Run, RunState } from '../model.ts';
import { isLiveBackup, restoreTransitions, runTransitions, sourcesOf } from './transitions.ts';
import { failBackup } from './backup-lifecycle.ts';
import type { RecordsContext } from '../context.ts';

export type EndState = Exclude<RunState, 'queued' | 'running'>;

/**
 * queued -> running: the run and its restore, if it is one, begin, leased to this daemon (which
 * admitted it). False when the run is no longer queued or no longer this daemon's: then it must
 * not execute.
 */
export function startRun(ctx: RecordsContext, runId: string): boolean {
  const now = ctx.clock.now();
  return ctx.records.transaction(() => {
    const patch = { startedAt: now, leaseExpiresAt: now + ctx.leaseMs };
    if (!ctx.records.runs.transition(runId, ['queued'], 'running', patch, ctx.instanceId)) return false;
    const restore = ctx.records.restores.byRun(runId);
    if (restore) ctx.records.restores.transition(restore.id, ['queued'], 'running', { startedAt: now, updatedAt: now });
    return true;
  });
}

/**
 * Ends a run this daemon holds, as one compare-and-set from the states that may become `state`:
 * backups of the run still being made fail with its error, its restore ends with it, and the
 * nodes it held are free. False when the run had already ended or its lease was taken (a lost
 * race): then nothing changes, so a daemon never writes over another owner's outcome.
 */
export function finishRun(
  ctx: RecordsContext,
  runId: string,
  state: EndState,
  error: string | null,
  opts: { failedPhase?: RestorePhase | null } = {},
): boolean {
  const now = ctx.clock.now();
  const ended = ctx.records.transaction(() => {
    const patch = { error, finishedAt: now, leaseOwner: null, leaseExpiresAt: null };
    if (!ctx.records.runs.transition(runId, sourcesOf(runTransitions, state), state, patch, ctx.instanceId)) return null;
    // The run's end, just written, is the authority over its backups: its lease is released.
    for (const b of ctx.records.backups.ofRun(runId)) {
      if (isLiveBackup(b.state)) failBackup(ctx, b, error ?? `run ${state}`, { owned: false });
    }
    const restore = ctx.records.restores.byRun(runId);
    if (restore) {
      const ends: RestoreState = state === 'partially_failed' ? 'failed' : state;
      ctx.records.restores.transition(restore.id, sourcesOf(restoreTransitions, ends), ends, {
        error,
        failedPhase: ends === 'succeeded' ? null : (opts.failedPhase ?? null),
        finishedAt: now,
        updatedAt: now,
      });
    }
    ctx.records.nodeLocks.release(runId);
    return { restore };
  });
  if (!ended) return false;
  ctx.journal.record(runId, 'run', `${ended.restore ? 'restore' : 'run'} ${state}${error ? `: ${error}` : ''}`, {
    level: state === 'succeeded' ? 'info' : 'error',
    host: ended.restore?.node ?? null,
  });
  return true;
}

/**
 * Takes over a live run whose owner is gone: a compare-and-set on the lease it read, so of two
 * daemons that both find the run, one gets it. False when the lease moved meanwhile.
 */
export function claimRun(ctx: RecordsContext, run: Pick<Run, 'id' | 'leaseOwner'>): boolean {
  return ctx.records.runs.claim(run.id, run.leaseOwner, ctx.instanceId, ctx.clock.now() + ctx.leaseMs);
}
