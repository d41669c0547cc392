import type { RestoreContext } from '../context.ts';
import { notFound, RearguardError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { LiveRuns } from '../runs/live-runs.ts';
import type { Backup, Restore, Run } from '../model.ts';
import type { NodeRecord } from '../ports.ts';
import { executeRestoreRun } from './restore-run.ts';
import { newRun } from '../runs/new-run.ts';
import type { RestoreProgress } from './restore-progress.ts';
import { bootArtefacts } from './restore-artefacts.ts';
import { admitRun } from '../runs/admit-run.ts';

export interface RestoreRequest {
  backupId: string;
  /** An Ironic UUID or a node name. */
  nodeId: string;
  /** Restore a backup of one node onto another: only when the operator says so. */
  allowOtherNode: boolean;
  requestedBy: string | null;
  idempotencyKey?: string;
}

export interface StartedRestore {
  restore: Restore;
  run: Run;
  created: boolean;
}

/**
 * Checks everything a restore needs before anything is staged (the backup is usable, the node is
 * known and has MACs, nothing else is live on it), records the restore and its run in one
 * transaction, and starts it.
 */
export function startRestore(
  ctx: RestoreContext,
  live: LiveRuns,
  progress: RestoreProgress,
  req: RestoreRequest,
): StartedRestore {
  if (req.idempotencyKey) {
    const earlier = replay(ctx, req);
    if (earlier) return earlier;
  }
  const backup = ctx.records.backups.get(req.backupId);
  if (!backup) throw notFound('backup', req.backupId);
  checkRestorable(ctx, backup);
  const node = resolveNode(ctx, req.nodeId);
  if (backup.node !== node.name && !req.allowOtherNode) {
    throw new RearguardError(
      'unprocessable',
      `backup ${backup.id} is of node ${backup.node}, not ${node.name}; add ?allow_other_node=true to restore it onto ${node.name} anyway`,
      { field: 'nodeid' },
    );
  }
  if (node.macs.length === 0) {
    throw new RearguardError(
      'unprocessable',
      `no MAC address is known for node ${node.name}: a verified backup of the node records them`,
      { field: 'nodeid' },
    );
  }

  const run = newRun(ctx, {
    kind: 'restore',
    target: `node:${node.name}`,
    params: { backupId: backup.id, node: node.name },
    requestedBy: req.requestedBy,
    idempotencyKey: req.idempotencyKey,
  });
  const now = run.createdAt;

  const restore: Restore = {
    id: newId('rs'),
    backupId: backup.id,
    node: node.name,
    runId: run.id,
    state: 'queued',
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    error: null,
    requestedBy: req.requestedBy,
    macs: node.macs,
    phases: {},
    failedPhase: null,
    updatedAt: now,
  };

  const { value: outcome } = admitRun(ctx, {
    run,
    nodes: [node.name],
    replay: (earlier) => replayed(ctx, req, earlier),
    check: () => {
      const current = ctx.records.backups.get(backup.id);
      if (!current) throw notFound('backup', backup.id);
      checkRestorable(ctx, current);
    },
    record: (): StartedRestore => {
      ctx.records.restores.insert(restore);
      return { restore, run, created: true };
    },
  });
  if (!outcome.created) return outcome;

  ctx.journal.record(
    run.id,
    'run',
    `restore of backup ${backup.id} onto ${node.name} requested by ${req.requestedBy ?? 'anonymous'}`,
    { host: node.name, data: { restore_id: restore.id, macs: node.macs } },
  );
  live.start(run.id, (signal) => executeRestoreRun(ctx, progress, restore.id, signal));
  return outcome;
}

function checkRestorable(ctx: RestoreContext, backup: Backup): void {
  if (backup.state !== 'available') {
    throw new RearguardError('conflict', `backup ${backup.id} is ${backup.state}, not available: it cannot be restored`);
  }
  bootArtefacts(backup);
  if (backup.manifest?.encryption && !ctx.decipher) {
    throw new RearguardError(
      'unprocessable',
      `backup ${backup.id} is encrypted (key ${backup.manifest.encryption.key_id}); set encryption.identityFile so the daemon can restore it`,
    );
  }
}

/** A node by name or Ironic UUID, among the nodes the daemon knows. */
function resolveNode(ctx: RestoreContext, nodeId: string): NodeRecord {
  const node = ctx.records.nodes.find(nodeId);
  if (!node) {
    throw new RearguardError('not_found', `node ${nodeId} is unknown: give a node name or Ironic UUID from GET /v1/nodes`, {
      field: 'nodeid',
    });
  }
  return node;
}

function replay(ctx: RestoreContext, req: RestoreRequest): StartedRestore | undefined {
  const earlier = ctx.records.runs.byIdempotencyKey(req.idempotencyKey!);
  return earlier ? replayed(ctx, req, earlier) : undefined;
}

/** What a request repeated with the same Idempotency-Key gets; a different request with that key is refused. */
function replayed(ctx: RestoreContext, req: RestoreRequest, run: Run): StartedRestore {
  const restore = run.kind === 'restore' ? ctx.records.restores.byRun(run.id) : undefined;
  if (!restore || restore.backupId !== req.backupId || restore.node !== resolveNode(ctx, req.nodeId).name) {
    throw new RearguardError('unprocessable', 'this Idempotency-Key was already used for a different request', {
      field: 'Idempotency-Key',
      run_id: run.id,
    });
  }
  return { restore, run, created: false };
}
