import type { RecordsContext } from '../context.ts';
import { RearguardError } from '../errors.ts';
import type { Run } from '../model.ts';

/** A run asking to be recorded: what it is, what it holds, and how its kind answers. */
export interface Admission<T> {
  /** The run to record, queued. */
  run: Run;
  /** Every node the run will touch: held for it until it ends, so no other run touches them meanwhile. */
  nodes: string[];
  /** The answer to a repeated request (an earlier run with the same Idempotency-Key); throws when the requests differ. */
  replay(earlier: Run): T;
  /** What must still hold when the run is recorded (checked in the same transaction). */
  check?(): void;
  /** Records the run's own rows (its backups, its restore) and returns the answer. */
  record(): T;
}

/**
 * The one way a run of any kind is admitted, in one transaction: a repeated request gets the
 * earlier answer; a target with a live run, or a node another run holds (a backup's or a
 * restore's alike), is refused with the run in the way; else the run is recorded with its nodes.
 */
export function admitRun<T>(ctx: Pick<RecordsContext, 'records'>, admission: Admission<T>): { value: T; created: boolean } {
  const { run, nodes } = admission;
  return ctx.records.transaction(() => {
    const earlier = run.idempotencyKey ? ctx.records.runs.byIdempotencyKey(run.idempotencyKey) : undefined;
    if (earlier) return { value: admission.replay(earlier), created: false };
    const held = ctx.records.nodeLocks.heldAmong(nodes);
    if (held) {
      const doing = { backup: 'backed up', restore: 'restored' }[held.kind as string] ?? `used by a ${held.kind}`;
      const by = held.restoreId ? `${held.restoreId} (run ${held.runId})` : `run ${held.runId}`;
      throw new RearguardError('conflict', `node ${held.node} is being ${doing} by ${by}`, { run_id: held.runId });
    }
    refuseLiveTarget(ctx, run.target);
    admission.check?.();
    ctx.records.runs.insert(run);
    ctx.records.nodeLocks.take(run.id, nodes);
    return { value: admission.record(), created: true };
  });
}

/** Cheap, and made again at admission: a burst of requests on a busy target is refused before any costly read. */
export function refuseLiveTarget(ctx: Pick<RecordsContext, 'records'>, target: string): void {
  const other = ctx.records.runs.liveForTarget(target);
  if (other) {
    throw new RearguardError('conflict', `a ${other.kind} run is already live on ${target}: ${other.id}`, { run_id: other.id });
  }
}
