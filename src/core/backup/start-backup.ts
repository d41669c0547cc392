import type { BackupContext } from '../context.ts';
import { RearguardError } from '../errors.ts';
import { newId } from '../ids.ts';
import { targets, type Backup, type Run, type Target } from '../model.ts';
import type { TargetHost } from '../ports.ts';
import { executeBackupRun } from './backup-run.ts';
import { newRun } from '../runs/new-run.ts';
import type { LiveRuns } from '../runs/live-runs.ts';
import { admitRun, refuseLiveTarget } from '../runs/admit-run.ts';

export interface BackupRequest {
  target: string;
  stopall: 'no' | 'yes';
  requestedBy: string | null;
  idempotencyKey?: string;
}

export interface StartedBackup {
  run: Run;
  backups: Backup[];
  /** False when an Idempotency-Key matched an earlier request: nothing new was started. */
  created: boolean;
}

const stamp = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/**
 * Validates a backup request, records the run and one pending backup per node in one transaction
 * (so two requests cannot both start a run on a target), and starts executing it.
 */
export async function startBackup(ctx: BackupContext, live: LiveRuns, req: BackupRequest): Promise<StartedBackup> {
  if (!(targets as readonly string[]).includes(req.target)) {
    throw new RearguardError('not_found', `unknown target '${req.target}': expected one of ${targets.join(', ')}`, {
      field: 'target',
    });
  }
  const target = req.target as Target;

  if (req.idempotencyKey) {
    const earlier = replay(ctx, req);
    if (earlier) return earlier;
  }

  // One query, before anything that costs more: a burst of requests on a live target reads no
  // inventory (the check is made again in the transaction below, where it settles races).
  refuseLiveTarget(ctx, target);

  const run = newRun(ctx, {
    kind: 'backup',
    target,
    params: { stopAll: req.stopall === 'yes' },
    requestedBy: req.requestedBy,
    idempotencyKey: req.idempotencyKey,
  });
  const beingStarted = (claimant: string) =>
    new RearguardError('conflict', `a backup run is being started on ${target}: ${claimant}`, { run_id: claimant });
  const { outcome, hosts } = await live.admitOn(target, run.id, () => admit(ctx, req, target, run), beingStarted);
  if (!outcome.created) return outcome;

  ctx.journal.record(
    run.id,
    'run',
    `backup of ${target} requested by ${req.requestedBy ?? 'anonymous'} (stopall=${req.stopall})`,
  );
  live.start(run.id, (signal) => executeBackupRun(ctx, run.id, hosts, signal));
  return outcome;
}

/** Reads the target's hosts and admits the run with one pending backup per host. */
async function admit(
  ctx: BackupContext,
  req: BackupRequest,
  target: Target,
  run: Run,
): Promise<{ outcome: StartedBackup; hosts: TargetHost[] }> {
  const group = ctx.targets[target].group;
  const hosts = await ctx.inventory.hostsOf(group);
  if (hosts.length === 0) {
    throw new RearguardError('unprocessable', `target ${target} has no hosts: inventory group '${group}' is empty or missing`, {
      field: 'target',
    });
  }
  const now = run.createdAt;
  const backups: Backup[] = hosts.map((h) => ({
    id: newId('bk'),
    name: `${h.name}-${stamp(now)}`,
    locationUrl: null,
    creationDate: now,
    target,
    node: h.name,
    runId: run.id,
    state: 'pending',
    size: null,
    sha256: null,
    manifest: null,
    error: null,
    updatedAt: now,
  }));

  const { value: outcome } = admitRun(ctx, {
    run,
    nodes: hosts.map((h) => h.name),
    replay: (earlier) => replayed(ctx, req, earlier),
    record: (): StartedBackup => {
      for (const h of hosts) ctx.records.nodes.upsert({ name: h.name, target, address: h.address });
      for (const b of backups) ctx.records.backups.insert(b);
      return { run, backups, created: true };
    },
  });
  return { outcome, hosts };
}

/** The run an earlier request with the same Idempotency-Key made, if any. */
function replay(ctx: BackupContext, req: BackupRequest): StartedBackup | undefined {
  const earlier = ctx.records.runs.byIdempotencyKey(req.idempotencyKey!);
  return earlier ? replayed(ctx, req, earlier) : undefined;
}

/** What a request repeated with the same Idempotency-Key gets; a different request with that key is refused. */
function replayed(ctx: BackupContext, req: BackupRequest, earlier: Run): StartedBackup {
  if (earlier.kind !== 'backup' || earlier.target !== req.target || earlier.params.stopAll !== (req.stopall === 'yes')) {
    throw new RearguardError('unprocessable', 'this Idempotency-Key was already used for a different request', {
      field: 'Idempotency-Key',
      run_id: earlier.id,
    });
  }
  return { run: earlier, backups: ctx.records.backups.ofRun(earlier.id), created: false };
}
