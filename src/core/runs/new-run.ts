import type { RecordsContext } from '../context.ts';
import { newId } from '../ids.ts';
import type { Run, RunKind, RunParamsByKind } from '../model.ts';

/** A kind with its params, as a request asks for a run. */
export type RunRequest = { [K in RunKind]: { kind: K; params: RunParamsByKind[K] } }[RunKind] & {
  target: string;
  requestedBy: string | null;
  idempotencyKey?: string;
};

/** A run as it is recorded when requested: queued, leased to this daemon. */
export function newRun(ctx: RecordsContext, fields: RunRequest): Run {
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
