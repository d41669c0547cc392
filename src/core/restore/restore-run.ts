import type { Readable } from 'node:stream';
import { HashingCounter } from '../backup/artefact-transfer.ts';
import type { StopReason } from '../runs/live-runs.ts';
import type { RestoreContext } from '../context.ts';
import type { Artefact, Backup, Restore, RestorePhase } from '../model.ts';
import type { PowerTarget, TargetHost } from '../ports.ts';
import { awaitNodeOnDisk } from './node-on-disk.ts';
import { inventoryHost, ironicUuidOf } from './restore-node.ts';
import { bootArtefacts, storageMismatch } from './restore-artefacts.ts';
import { RescueFailure, type RestoreProgress } from './restore-progress.ts';
import { finishRun, startRun, type EndState } from '../runs/run-lifecycle.ts';
import { storagePrefix } from '../backup/stored-backup.ts';

/** Raised inside a restore to name the phase it failed in. */
class PhaseError extends Error {
  constructor(
    readonly phase: RestorePhase,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Executes one restore: stage the backup's kernel and initrd (verified against its manifest) and
 * the node's boot configs, power the node into its network boot, then follow it through each
 * milestone with a timeout per phase, up to the node answering from its restored disk. Whatever
 * the outcome, the boot configs are removed (so the node does not boot the rescue image again) and
 * the node is set back to boot from disk before the restore's record ends.
 */
export async function executeRestoreRun(
  ctx: RestoreContext,
  progress: RestoreProgress,
  restoreId: string,
  signal: AbortSignal,
): Promise<void> {
  const restore = ctx.records.restores.get(restoreId)!;
  const backup = ctx.records.backups.get(restore.backupId)!;
  const runId = restore.runId;
  if (!startRun(ctx, runId)) return;

  const host = await inventoryHost(ctx, restore.node);
  const target = powerTarget(ctx, restore, host);
  let powered = false;
  let onDisk = false;
  let state: EndState = 'succeeded';
  let error: string | null = null;
  let failedPhase: RestorePhase | null = null;
  try {
    await stage(ctx, progress, restore, backup, signal);
    await inPhase('power_on', async () => {
      await ctx.power.bootFromNetwork(target);
      powered = true;
      const how = ctx.power.instructions ? `: ${ctx.power.instructions}` : '';
      progress.reach(
        restoreId,
        'power_on',
        `${ctx.power.name}: ${restore.node} set to boot from the network and restarted${how}`,
      );
    });
    const t = ctx.restore.timeoutsMs;
    await inPhase('initrd_fetched', () => progress.until(restoreId, 'initrd_fetched', t.boot, signal));
    await inPhase('rescue_booted', () => progress.until(restoreId, 'rescue_booted', t.rescue, signal));
    await inPhase('recovered', () => progress.until(restoreId, 'recovered', t.recover, signal));
    await inPhase('booted_from_disk', async () => {
      await sendToDisk(ctx, restore, target);
      onDisk = true;
      await provenOnDisk(ctx, progress, restore, backup, host, signal);
    });
  } catch (err) {
    const stop = signal.aborted ? (signal.reason as StopReason) : null;
    failedPhase = err instanceof PhaseError ? err.phase : 'staged';
    const cause = err instanceof PhaseError ? (err.cause as Error) : (err as Error);
    if (stop) {
      state = stop === 'cancelled' ? 'cancelled' : 'interrupted';
      error = `restore ${stop === 'cancelled' ? 'cancelled' : 'interrupted by daemon shutdown'} while waiting for ${failedPhase}`;
    } else {
      state = 'failed';
      error = `${failedPhase}: ${cause.message}`;
    }
  }

  await cleanUp(ctx, progress, restore, target, powered && !onDisk);
  finishRun(ctx, runId, state, error, { failedPhase });
  progress.forget(restoreId);
}

/** Runs a step of `phase`; what it throws fails that phase, but a rescue system's failure names its own (an archive mismatch fails archive_fetched). */
async function inPhase(phase: RestorePhase, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (err instanceof PhaseError) throw err;
    throw new PhaseError(err instanceof RescueFailure ? err.phase : phase, (err as Error).message, { cause: err });
  }
}

/** Copies kernel and initrd from storage into the boot root, each verified against the manifest, then publishes the node's boot configs. */
async function stage(
  ctx: RestoreContext,
  progress: RestoreProgress,
  restore: Restore,
  backup: Backup,
  signal: AbortSignal,
): Promise<void> {
  await inPhase('staged', async () => {
    const { kernel, initrd, archive } = bootArtefacts(backup);
    for (const artefact of [kernel, initrd]) {
      if (signal.aborted) throw new Error(String(signal.reason));
      const body = await openArtefact(ctx, backup, artefact);
      const counter = new HashingCounter();
      body.on('error', (err) => counter.destroy(err));
      await ctx.boot.writeFile(restore.id, artefact.name, body.pipe(counter));
      const mismatch = storageMismatch(artefact, counter.bytes, counter.digest());
      if (mismatch) throw mismatch;
    }
    const base = ctx.restore.httpUrl.replace(/\/+$/, '');
    await ctx.boot.publish({
      restoreId: restore.id,
      backupId: backup.id,
      node: restore.node,
      macs: restore.macs,
      httpUrl: base,
      kernelArgs: ctx.restore.kernelArgs,
      rescueEnv: {
        RG_RESTORE_ID: restore.id,
        RG_BACKUP_ID: backup.id,
        RG_NODE: restore.node,
        RG_HTTP: base,
        RG_ARCHIVE_PATH: archive ? `${ctx.agent.imageDir(backup.id)}/backup.tar.gz` : '',
        RG_ARCHIVE_SHA256: archive?.sha256 ?? '',
      },
    });
    progress.reach(
      restore.id,
      'staged',
      `kernel and initrd of ${backup.id} verified and staged; boot configs for ${restore.macs.join(', ')} published`,
      {
        kernel_bytes: kernel.size,
        initrd_bytes: initrd.size,
      },
    );
  });
}

/** A stored artefact's plaintext: decrypted on the way when the backup is encrypted. */
export async function openArtefact(
  ctx: RestoreContext,
  backup: Backup,
  artefact: Artefact,
  range?: { start: number; end?: number },
): Promise<Readable> {
  const stored = await ctx.storage.get(
    `${storagePrefix(backup)}${artefact.name}`,
    backup.manifest?.encryption ? undefined : range,
  );
  if (!backup.manifest?.encryption) return stored;
  if (!ctx.decipher) throw new Error(`backup ${backup.id} is encrypted and the daemon has no identity to decrypt it`);
  return ctx.decipher.decrypt(stored);
}

/**
 * Once recovered, the node must come back from its disk, the way Ironic does it: its boot configs
 * now send it to its local disk (in case its firmware still tries the network first) and the power
 * driver sets its boot device to disk. ReaR's unattended mode reboots the rescue system by itself.
 */
async function sendToDisk(ctx: RestoreContext, restore: Restore, target: PowerTarget): Promise<void> {
  await ctx.boot.bootLocal(restore.id, restore.node, restore.macs);
  await ctx.power.bootFromDisk(target);
  ctx.journal.record(
    restore.runId,
    'booted_from_disk',
    `${ctx.power.name}: ${restore.node} set to boot from its disk; its boot configs now boot it locally`,
    { host: restore.node },
  );
}

/**
 * The restore is done when the node answers from its restored disk with the host key of the node
 * the backup was taken of (pinned when that node was backed up): onto other hardware too, since the
 * restored system is that node.
 */
async function provenOnDisk(
  ctx: RestoreContext,
  progress: RestoreProgress,
  restore: Restore,
  backup: Backup,
  host: TargetHost | undefined,
  signal: AbortSignal,
): Promise<void> {
  if (!host) throw new Error(`node ${restore.node} is in no target's inventory: the daemon cannot reach it to see it boot`);
  const t = ctx.restore;
  const found = await awaitNodeOnDisk(
    ctx.nodes,
    { ...host, name: backup.node },
    { timeoutMs: t.timeoutsMs.diskBoot, pollMs: t.diskBootPollMs, now: () => ctx.clock.now() },
    signal,
  );
  progress.reach(
    restore.id,
    'booted_from_disk',
    `${restore.node} answers from its restored disk (root ${found.root}) with the host key of ${backup.node}`,
    { root: found.root, attempts: found.attempts },
  );
}

async function cleanUp(
  ctx: RestoreContext,
  progress: RestoreProgress,
  restore: Restore,
  target: PowerTarget,
  diskNotSet: boolean,
): Promise<void> {
  const problems: string[] = [];
  await ctx.boot.remove(restore.id, restore.macs).catch((err: Error) => problems.push(`boot files not removed: ${err.message}`));
  if (diskNotSet)
    await ctx.power.bootFromDisk(target).catch((err: Error) => problems.push(`boot device not set back to disk: ${err.message}`));
  for (const p of problems) ctx.journal.record(restore.runId, 'cleanup', p, { level: 'error', host: restore.node });
  if (problems.length === 0) {
    progress.reach(
      restore.id,
      'cleaned_up',
      `boot configs for ${restore.macs.join(', ')} removed${diskNotSet ? '; boot device set back to disk' : ''}`,
    );
  }
}

function powerTarget(ctx: RestoreContext, restore: Restore, host: TargetHost | undefined): PowerTarget {
  return { name: restore.node, macs: restore.macs, ironicUuid: ironicUuidOf(ctx, restore.node, host), vars: host?.vars ?? {} };
}
