import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { transferArtefact } from './artefact-transfer.ts';
import type { CoreContext } from './context.ts';
import type { Artefact, Backup, BackupManifest, Run, RunState } from './model.ts';
import { parseNodeManifest } from './node-manifest.ts';
import { followPlaybook } from './playbook-events.ts';
import { playbookVars } from './playbook-vars.ts';
import type { NodeSession, PlaybookResult, TargetHost } from './ports.ts';
import { assertTransition } from './run-state.ts';
import { unquiesceRun } from './unquiesce.ts';
import { removeStoredBackup, storagePrefix } from './stored-backup.ts';

/** Why a run was stopped before its end: an operator's cancel, or the daemon shutting down. */
export type StopReason = 'cancelled' | 'shutdown';

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Executes one backup run: preflight, the backup playbook (quiesce, image, unquiesce on the nodes),
 * then for every node that imaged well: transfer to storage, verify, record, clean the staging dir.
 * Whatever happens, services the run stopped get restarted and every record ends true.
 */
export async function executeBackupRun(ctx: CoreContext, runId: string, hosts: TargetHost[], signal: AbortSignal): Promise<void> {
  const run = ctx.records.runs.get(runId)!;
  const backups = ctx.records.backups.ofRun(runId);
  const finish = (state: RunState, error: string | null) => {
    assertTransition(ctx.records.runs.get(runId)!.state, state);
    ctx.records.runs.update(runId, { state, error, finishedAt: ctx.clock.now(), leaseOwner: null, leaseExpiresAt: null });
    ctx.journal.record(runId, 'run', `run ${state}${error ? `: ${error}` : ''}`, {
      level: state === 'succeeded' ? 'info' : 'error',
    });
  };
  const failBackup = (b: Backup, error: string) => {
    ctx.records.backups.update(b.id, { state: 'failed', error, updatedAt: ctx.clock.now() });
    ctx.journal.record(runId, 'run', `backup ${b.id} failed: ${error}`, { level: 'error', host: b.node });
  };
  const stopped = () => (signal.aborted ? (signal.reason as StopReason) : null);

  assertTransition(run.state, 'running');
  ctx.records.runs.update(runId, {
    state: 'running',
    startedAt: ctx.clock.now(),
    leaseOwner: ctx.instanceId,
    leaseExpiresAt: ctx.clock.now() + ctx.leaseMs,
  });
  ctx.journal.record(runId, 'run', `backup of ${run.target} started on ${hosts.map((h) => h.name).join(', ')}`, {
    data: { stopall: run.params.stopall },
  });

  try {
    await ctx.storage.checkWritable();
  } catch (err) {
    const reason = `preflight: storage is not writable: ${(err as Error).message}`;
    for (const b of backups) failBackup(b, reason);
    finish('failed', reason);
    return;
  }
  ctx.journal.record(runId, 'preflight', 'storage is writable');

  ctx.records.runs.update(runId, { quiesceOpen: true });
  const result = await ctx.playbooks.run({
    playbook: 'backup.yml',
    extraVars: playbookVars(ctx, run, backups),
    signal,
    onEvent: followPlaybook(ctx, runId),
    onLog: (line) => ctx.log.debug({ run: runId }, line),
  });

  const servicesBack = await ensureUnquiesced(ctx, run, backups, result);

  const imaged: Backup[] = [];
  for (const b of backups) {
    const failure = hostFailure(result, b.node);
    if (failure) failBackup(b, failure);
    else if (stopped()) failBackup(b, `run ${stopped()} before the backup was transferred`);
    else imaged.push(b);
  }

  for (const b of imaged) {
    if (stopped()) {
      failBackup(b, `run ${stopped()} before the backup was transferred`);
      continue;
    }
    const host = hosts.find((h) => h.name === b.node)!;
    try {
      await storeBackup(ctx, run, b, host, signal);
    } catch (err) {
      failBackup(b, (err as Error).message);
      await removeStoredBackup(ctx.storage, b).catch((e: Error) =>
        ctx.journal.record(runId, 'cleanup', `could not remove partial objects: ${e.message}`, { level: 'warn', host: b.node }),
      );
    }
  }

  const final = ctx.records.backups.ofRun(runId);
  const failed = final.filter((b) => b.state !== 'available');
  const summary = failed.map((b) => `${b.node}: ${b.error}`).join('; ');
  const unquiesceNote = servicesBack ? '' : '; services may still be stopped (see events)';
  const reason = stopped();
  if (reason)
    finish(
      reason === 'cancelled' ? 'cancelled' : 'interrupted',
      `run ${reason === 'cancelled' ? 'cancelled' : 'interrupted by daemon shutdown'}${unquiesceNote}`,
    );
  else if (failed.length === 0)
    finish(servicesBack ? 'succeeded' : 'partially_failed', servicesBack ? null : unquiesceNote.slice(2));
  else if (failed.length === final.length) finish('failed', summary + unquiesceNote);
  else finish('partially_failed', summary + unquiesceNote);
}

/** The failure that ended a host's part of the playbook, if any. */
function hostFailure(result: PlaybookResult, host: string): string | null {
  const f = result.failures.find((x) => x.host === host);
  if (f) return `${f.task}: ${f.message}`;
  const stats = result.stats[host];
  if (result.cancelled) return 'playbook cancelled';
  if (!stats) return `ansible-playbook ended (exit ${result.exitCode}) without reaching this host`;
  if (stats.unreachable > 0) return 'host unreachable';
  if (stats.failures > 0) return 'a task failed';
  return null;
}

/**
 * The playbook's own `always` block restarts services; when the playbook was interrupted or a host
 * failed, an explicit unquiesce pass makes sure, before anything else happens.
 */
async function ensureUnquiesced(ctx: CoreContext, run: Run, backups: Backup[], result: PlaybookResult): Promise<boolean> {
  const clean = result.exitCode === 0 && !result.cancelled;
  if (clean) {
    ctx.records.runs.update(run.id, { quiesceOpen: false });
    return true;
  }
  return unquiesceRun(ctx, run, backups);
}

async function storeBackup(ctx: CoreContext, run: Run, backup: Backup, host: TargetHost, signal: AbortSignal): Promise<void> {
  const staging = `${ctx.backup.stagingDir}/${backup.id}`;
  const prefix = storagePrefix(backup);
  ctx.records.backups.update(backup.id, { state: 'transferring', updatedAt: ctx.clock.now() });
  let session: NodeSession | undefined;
  try {
    session = await ctx.nodes.open(host);
    const text = await session.exec(`cat ${shellQuote(`${staging}/manifest.json`)}`);
    if (text.code !== 0) throw new Error(`transfer: cannot read ${staging}/manifest.json on ${host.name}: ${text.stderr.trim()}`);
    const nodeManifest = parseNodeManifest(text.stdout, backup.id);

    const stored: Artefact[] = [];
    for (const artefact of nodeManifest.artefacts) {
      const started = ctx.clock.now();
      ctx.journal.record(run.id, 'transfer', `transferring ${artefact.name} (${artefact.size} bytes)`, { host: host.name });
      const done = await transferArtefact(session, ctx.storage, artefact, `${prefix}${artefact.name}`, signal);
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
      artefacts: stored,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
    await ctx.storage.put(`${prefix}manifest.json`, Readable.from([manifestBytes]), { size: manifestBytes.length });

    ctx.records.backups.update(backup.id, {
      state: 'available',
      locationUrl: ctx.storage.locationOf(prefix),
      size: stored.reduce((n, a) => n + a.size, 0),
      sha256: createHash('sha256').update(manifestBytes).digest('hex'),
      manifest,
      error: null,
      updatedAt: ctx.clock.now(),
    });
    ctx.journal.record(run.id, 'verify', `backup ${backup.id} available at ${ctx.storage.locationOf(prefix)}`, {
      host: host.name,
    });
  } finally {
    if (session) {
      const rm = await session.exec(`rm -rf -- ${shellQuote(staging)}`).catch((e: Error) => ({ code: 1, stderr: e.message }));
      if (rm.code !== 0)
        ctx.journal.record(run.id, 'cleanup', `staging dir not removed: ${rm.stderr}`, { level: 'warn', host: host.name });
      else ctx.journal.record(run.id, 'cleanup', `staging dir ${staging} removed`, { host: host.name });
      session.close();
    }
  }
}
