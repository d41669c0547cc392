import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { transferArtefact } from './artefact-transfer.ts';
import type { BackupContext } from '../context.ts';
import type { Artefact, Backup, BackupManifest, Run } from '../model.ts';
import { parseNodeIdentity } from '../nodes/node-identity.ts';
import { parseNodeManifest } from './node-manifest.ts';
import type { StopReason } from '../runs/live-runs.ts';
import type { ImagingOutcome, NodeSession, TargetHost } from '../ports.ts';
import { failBackup, transferBackup, completeBackup } from '../runs/backup-lifecycle.ts';
import { finishRun, startRun, type EndState } from '../runs/run-lifecycle.ts';
import { journalAgent, unquiesceRun } from './unquiesce.ts';
import { removeStoredBackup, storagePrefix } from './stored-backup.ts';

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Executes one backup run: preflight, the backup playbook (quiesce, image, unquiesce on the nodes),
 * then for every node that imaged well: transfer to storage, verify, record, clean the staging dir.
 * Whatever happens, services the run stopped get restarted and every record ends true.
 */
export async function executeBackupRun(
  ctx: BackupContext,
  runId: string,
  hosts: TargetHost[],
  signal: AbortSignal,
): Promise<void> {
  const run = ctx.records.runs.get(runId)!;
  if (run.kind !== 'backup') throw new Error(`run ${runId} is a ${run.kind} run, not a backup`);
  const backups = ctx.records.backups.ofRun(runId);
  const finish = (state: EndState, error: string | null) => {
    if (!finishRun(ctx, runId, state, error)) ctx.log.warn({ run: runId, state }, 'run had already ended');
  };
  const stopped = () => (signal.aborted ? (signal.reason as StopReason) : null);

  if (!startRun(ctx, runId)) return;
  ctx.journal.record(runId, 'run', `backup of ${run.target} started on ${hosts.map((h) => h.name).join(', ')}`, {
    data: { stopall: run.params.stopAll ? 'yes' : 'no' },
  });

  try {
    await ctx.storage.checkWritable();
  } catch (err) {
    const reason = `preflight: storage is not writable: ${(err as Error).message}`;
    for (const b of backups) failBackup(ctx, b, reason);
    finish('failed', reason);
    return;
  }
  ctx.journal.record(runId, 'preflight', 'storage is writable');

  ctx.records.runs.update(runId, { quiesceOpen: true });
  const outcome = await ctx.agent.image({
    run,
    backups,
    stopAll: run.params.stopAll,
    signal,
    onEvent: journalAgent(ctx, runId),
  });
  const servicesBack = await ensureUnquiesced(ctx, run, backups, outcome, signal);

  const imaged: Backup[] = [];
  const hostOf = (b: Backup) => hosts.find((h) => h.name === b.node)!;
  // An image nothing will transfer does not stay on its node.
  const notTransferred = async (b: Backup) => {
    failBackup(ctx, b, `run ${stopped()} before the backup was transferred`);
    await discardImage(ctx, run.id, b, hostOf(b));
  };
  for (const b of backups) {
    const failure = outcome.failures[b.node] ?? null;
    if (failure) failBackup(ctx, b, failure);
    else if (stopped()) await notTransferred(b);
    else imaged.push(b);
  }

  // Services are back everywhere: nodes transfer side by side, up to the configured limit.
  const slot = pLimit(ctx.transfer.concurrentNodes);
  await Promise.all(
    imaged.map((b) =>
      slot(async () => {
        if (stopped()) return notTransferred(b);
        try {
          await storeBackup(ctx, run, b, hostOf(b), signal);
        } catch (err) {
          failBackup(ctx, b, (err as Error).message);
          await removeStoredBackup(ctx.storage, b).catch((e: Error) =>
            ctx.journal.record(runId, 'cleanup', `could not remove partial objects: ${e.message}`, {
              level: 'warn',
              host: b.node,
            }),
          );
        }
      }),
    ),
  );

  const final = ctx.records.backups.ofRun(runId);
  const failed = final.filter((b) => b.state !== 'available');
  const summary = failed.map((b) => `${b.node}: ${b.error}`).join('; ');
  const unquiesceNote = servicesBack ? '' : '; services may still be stopped (see events)';
  const reason = stopped();
  const preflight = outcome.preflightFailure;
  if (reason)
    finish(
      reason === 'cancelled' ? 'cancelled' : 'interrupted',
      `run ${reason === 'cancelled' ? 'cancelled' : 'interrupted by daemon shutdown'}${unquiesceNote}`,
    );
  else if (preflight) finish('failed', preflight);
  else if (failed.length === 0)
    finish(servicesBack ? 'succeeded' : 'partially_failed', servicesBack ? null : unquiesceNote.slice(2));
  else if (failed.length === final.length) finish('failed', summary + unquiesceNote);
  else finish('partially_failed', summary + unquiesceNote);
}

/**
 * The playbook's own `always` block restarts services; when the playbook was interrupted or a host
 * failed, an explicit unquiesce pass makes sure, before anything else happens. If quiesce never
 * began (preflight failed), nothing was stopped and there is nothing to restart.
 */
async function ensureUnquiesced(
  ctx: BackupContext,
  run: Run,
  backups: Backup[],
  outcome: ImagingOutcome,
  signal: AbortSignal,
): Promise<boolean> {
  if (outcome.clean || !outcome.quiesceStarted) {
    ctx.records.runs.update(run.id, { quiesceOpen: false });
    return true;
  }
  // A stopped run transfers nothing; otherwise the hosts that imaged well keep their images.
  const discard = backups.filter((b) => signal.aborted || outcome.failures[b.node] !== null).map((b) => b.id);
  return unquiesceRun(ctx, run, backups, discard);
}

async function storeBackup(ctx: BackupContext, run: Run, backup: Backup, host: TargetHost, signal: AbortSignal): Promise<void> {
  const staging = ctx.agent.imageDir(backup.id);
  const prefix = storagePrefix(backup);
  if (!transferBackup(ctx, backup.id)) throw new Error(`backup ${backup.id} is no longer pending`);
  let session: NodeSession | undefined;
  try {
    session = await ctx.nodes.open(host);
    const text = await session.exec(`cat ${shellQuote(`${staging}/manifest.json`)}`);
    if (text.code !== 0) throw new Error(`transfer: cannot read ${staging}/manifest.json on ${host.name}: ${text.stderr.trim()}`);
    const nodeManifest = parseNodeManifest(text.stdout, backup.id);
    recordIdentity(ctx, run, host, text.stdout);

    const stored: Artefact[] = [];
    for (const artefact of nodeManifest.artefacts) {
      const started = ctx.clock.now();
      ctx.journal.record(run.id, 'transfer', `transferring ${artefact.name} (${artefact.size} bytes)`, { host: host.name });
      const done = await transferArtefact(session, ctx.storage, artefact, `${prefix}${artefact.name}`, {
        signal,
        cipher: ctx.cipher,
      });
      stored.push(done);
      ctx.journal.record(run.id, 'verify', `${artefact.name} verified: ${done.size} bytes, sha256 ${done.sha256}`, {
        host: host.name,
        data: { bytes: done.size, ms: ctx.clock.now() - started },
      });
    }

    const manifest: BackupManifest = {
      backup_id: backup.id,
      host: host.name,
      target: backup.target,
      run_id: run.id,
      rear_version: nodeManifest.rear_version ?? null,
      created: nodeManifest.created,
      encryption: ctx.cipher ? { format: ctx.cipher.format, recipients: ctx.cipher.recipients, key_id: ctx.cipher.keyId } : null,
      artefacts: stored,
      ...(nodeManifest.disks ? { disks: nodeManifest.disks } : {}),
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
    await ctx.storage.put(`${prefix}manifest.json`, Readable.from([manifestBytes]), { size: manifestBytes.length });

    const kept = completeBackup(ctx, backup.id, {
      locationUrl: ctx.storage.locationOf(prefix),
      size: stored.reduce((n, a) => n + a.size, 0),
      sha256: createHash('sha256').update(manifestBytes).digest('hex'),
      manifest,
    });
    if (!kept) throw new Error(`backup ${backup.id} ended while it was being stored`);
    ctx.journal.record(run.id, 'verify', `backup ${backup.id} available at ${ctx.storage.locationOf(prefix)}`, {
      host: host.name,
    });
  } finally {
    if (session) {
      await removeImage(ctx, run.id, session, host, staging);
      session.close();
    }
  }
}

/** Removes a backup's staged image from its node, over a session of its own. */
async function discardImage(ctx: BackupContext, runId: string, backup: Backup, host: TargetHost): Promise<void> {
  const staging = ctx.agent.imageDir(backup.id);
  const session = await ctx.nodes.open(host).catch((err: Error) => {
    ctx.journal.record(runId, 'cleanup', `staging dir ${staging} not removed: ${err.message}`, {
      level: 'warn',
      host: host.name,
    });
    return null;
  });
  if (!session) return;
  await removeImage(ctx, runId, session, host, staging);
  session.close();
}

/** A failed removal is an event naming the path, never silent. */
async function removeImage(
  ctx: BackupContext,
  runId: string,
  session: NodeSession,
  host: TargetHost,
  staging: string,
): Promise<void> {
  const rm = await session.exec(`rm -rf -- ${shellQuote(staging)}`).catch((e: Error) => ({ code: 1, stderr: e.message }));
  if (rm.code !== 0)
    ctx.journal.record(runId, 'cleanup', `staging dir ${staging} not removed: ${rm.stderr}`, { level: 'warn', host: host.name });
  else ctx.journal.record(runId, 'cleanup', `staging dir ${staging} removed`, { host: host.name });
}

/** The node's MACs and Ironic UUID, from its manifest: what a restore needs to PXE-boot it. */
function recordIdentity(ctx: BackupContext, run: Run, host: TargetHost, manifestText: string): void {
  const identity = parseNodeIdentity(manifestText);
  if (!identity) return;
  ctx.records.nodes.setIdentity(host.name, identity);
  ctx.journal.record(run.id, 'verify', `node ${host.name}: MACs ${identity.macs.join(', ') || 'none'}`, {
    host: host.name,
    data: { macs: identity.macs, ironic_uuid: identity.ironicUuid },
  });
}
