import type { RecordsContext } from '../context.ts';
import { newId } from '../ids.ts';
import type { Run } from '../model.ts';

/** A run as it is recorded when requested: queued, leased to this daemon. */
export function newRun(
  ctx: RecordsContext,
  fields: Pick<Run, 'kind' | 'target' | 'params' | 'requestedBy'> & { idempotencyKey?: string },
): Run {
  const now = ctx.clock.now();
  return {
    id: newId('run'),
    ...fields,
    state: 'queued',
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    error: null,
    idempotencyKey: fields.idempotencyKey ?? null,
    leaseOwner: ctx.instanceId,
    leaseExpiresAt: now + ctx.leaseMs,
    quiesceOpen: false,
  };
}
