import { and, asc, eq, gt, inArray, isNull, or } from 'drizzle-orm';
import type { Run, RunEvent } from '../core/model.ts';
import type { Records } from '../core/ports.ts';
import { liveRunStates } from '../core/runs/transitions.ts';
import type { Db } from './client.ts';
import { runEvents, runs } from './schema.ts';

/** Runs, with their leases: every state change a compare-and-set. */
export const runRecords = (db: Db): Records['runs'] => ({
  insert: (run) => void db.insert(runs).values(run).run(),
  get: (id) => db.select().from(runs).where(eq(runs.id, id)).get() as Run | undefined,
  byIdempotencyKey: (key) => db.select().from(runs).where(eq(runs.idempotencyKey, key)).get() as Run | undefined,
  liveForTarget: (target) =>
    db
      .select()
      .from(runs)
      .where(and(eq(runs.target, target), inArray(runs.state, liveRunStates)))
      .get() as Run | undefined,
  update: (id, patch) => void db.update(runs).set(patch).where(eq(runs.id, id)).run(),
  transition: (id, from, to, patch, owner) =>
    db
      .update(runs)
      .set({ ...patch, state: to })
      .where(and(eq(runs.id, id), inArray(runs.state, [...from]), owner === undefined ? undefined : eq(runs.leaseOwner, owner)))
      .run().changes === 1,
  claim: (id, from, to, expiresAt) =>
    db
      .update(runs)
      .set({ leaseOwner: to, leaseExpiresAt: expiresAt })
      .where(
        and(
          eq(runs.id, id),
          inArray(runs.state, liveRunStates),
          from === null ? isNull(runs.leaseOwner) : eq(runs.leaseOwner, from),
        ),
      )
      .run().changes === 1,
  renewLease: (id, owner, expiresAt) =>
    db
      .update(runs)
      .set({ leaseExpiresAt: expiresAt })
      .where(and(eq(runs.id, id), eq(runs.leaseOwner, owner), inArray(runs.state, liveRunStates)))
      .run().changes === 1,
  unfinished: () =>
    db
      .select()
      .from(runs)
      .where(or(inArray(runs.state, liveRunStates), eq(runs.quiesceOpen, true)))
      .orderBy(asc(runs.createdAt))
      .all() as Run[],
});

/** A run's events, in the order they were appended. */
export const runEventRecords = (db: Db): Records['events'] => ({
  append: (event) => db.insert(runEvents).values(event).returning().get() as RunEvent,
  list: (runId, afterSeq, limit) =>
    db
      .select()
      .from(runEvents)
      .where(and(eq(runEvents.runId, runId), gt(runEvents.seq, afterSeq)))
      .orderBy(asc(runEvents.seq))
      .limit(limit)
      .all() as RunEvent[],
});
