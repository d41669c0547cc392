import type { RestoreContext } from '../context.ts';
import { notFound, RearguardError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { LiveRuns } from '../runs/live-runs.ts';
import type { Backup, Restore, Run } from '../model.ts';
import { executeRestoreRun } from './restore-run.ts';
import { newRun } from '../runs/new-run.ts';
import type { RestoreProgress } from './restore-progress.ts';
import { bootArtefacts } from './restore-artefacts.ts';
import { admitRun } from '../runs/admit-run.ts';
import { checkDiskRoom, resolveRestoreNode, type RestoreNode } from './restore-node.ts';

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
 * Resolves the node (its records, then the inventory), answers a repeated Idempotency-Key with the
 * earlier restore, and otherwise admits a new one.
 */
export async function startRestore(
  ctx: RestoreContext,
  live: LiveRuns,
  progress: RestoreProgress,
  req: RestoreRequest,
): Promise<StartedRestore> {
  const earlier = req.idempotencyKey ? ctx.records.runs.byIdempotencyKey(req.idempotencyKey) : undefined;
  const backup = ctx.records.backups.get(req.backupId);
  if (!backup && !earlier) throw notFound('backup', req.backupId);
  const node = await resolveRestoreNode(ctx, req.nodeId);
  if (earlier) return replayed(req, node.name, earlier, ctx);
  return admit(ctx, live, progress, req, backup!, node);
}

/**
 * Checks everything a restore needs before anything is staged (the backup is usable, the node has
 * MACs and room for the layout, nothing else is live on it), then records the restore and its run in one transaction, and starts it.
 */
function admit(
  ctx: RestoreContext,
  live: LiveRuns,
  progress: RestoreProgress,
  req: RestoreRequest,
  backup: Backup,
  node: RestoreNode,
): StartedRestore {
  checkRestorable(ctx, backup);
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
      `no MAC address is known for node ${node.name}: a verified backup of the node records them, or set rearguard_macs in the inventory`,
      { field: 'nodeid' },
    );
  }
  checkDiskRoom(backup, node);

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
    replay: (earlier) => replayed(req, node.name, earlier, ctx),
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

/** What a request repeated with the same Idempotency-Key gets; a different request with that key is refused. */
function replayed(req: RestoreRequest, nodeName: string, run: Run, ctx: RestoreContext): StartedRestore {
  const restore = run.kind === 'restore' ? ctx.records.restores.byRun(run.id) : undefined;
  if (!restore || restore.backupId !== req.backupId || restore.node !== nodeName) {
    throw new RearguardError('unprocessable', 'this Idempotency-Key was already used for a different request', {
      field: 'Idempotency-Key',
      run_id: run.id,
    });
  }
  return { restore, run, created: false };
}
