import type { RecordsContext } from '../context.ts';
import { notFound, RearguardError } from '../errors.ts';
import type { Backup, Run, RunEvent } from '../model.ts';
import type { LiveRuns } from './live-runs.ts';
import { isLive } from './transitions.ts';

export function getRun(ctx: RecordsContext, id: string): { run: Run; backups: Backup[] } {
  const run = ctx.records.runs.get(id);
  if (!run) throw notFound('run', id);
  return { run, backups: ctx.records.backups.ofRun(id) };
}

export function runEvents(ctx: RecordsContext, id: string, afterSeq: number, limit: number): RunEvent[] {
  getRun(ctx, id);
  return ctx.records.events.list(id, afterSeq, limit);
}

/** Asks a live run to stop at its next safe point; services it stopped are restarted before it ends. */
export function cancelRun(ctx: RecordsContext, live: LiveRuns, id: string, by: string | null): Run {
  const { run } = getRun(ctx, id);
  if (!isLive(run.state)) throw new RearguardError('conflict', `run ${id} has already ended (${run.state})`);
  if (!live.stop(id, 'cancelled')) throw new RearguardError('conflict', `run ${id} is not executing in this daemon`);
  ctx.journal.record(id, 'run', `cancel requested by ${by ?? 'anonymous'}`, { level: 'warn' });
  return ctx.records.runs.get(id)!;
}
