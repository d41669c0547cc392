import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { openDatabase } from '../../../src/db/client.ts';
import { sqliteRecords } from '../../../src/db/records.ts';
import { completeBackup, failBackup, markDeleting, transferBackup } from '../../../src/core/runs/backup-lifecycle.ts';
import { claimRun, finishRun, startRun } from '../../../src/core/runs/run-lifecycle.ts';
import { runStates } from '../../../src/core/model.ts';
import { RunJournal } from '../../../src/core/runs/run-journal.ts';
import { aBackup, aRun, memoryLifecycle, quiet, recordRestore } from '../memory-records.ts';

describe('starting a run', () => {
  test('queued -> running, leased to this daemon, and its restore starts with it', () => {
    const ctx = memoryLifecycle();
    const { run, restore } = recordRestore(ctx.records);

    expect(startRun(ctx, run.id)).toBe(true);
    const started = ctx.records.runs.get(run.id)!;
    expect(started).toMatchObject({ state: 'running', startedAt: ctx.clock.now(), leaseOwner: 'test-daemon' });
    expect(started.leaseExpiresAt).toBe(ctx.clock.now() + ctx.leaseMs);
    expect(ctx.records.restores.get(restore.id)).toMatchObject({ state: 'running', startedAt: ctx.clock.now() });
  });

  test('a run another daemon admitted does not start here', () => {
    const ctx = memoryLifecycle();
    const run = aRun({ leaseOwner: 'other-daemon' });
    ctx.records.runs.insert(run);
    expect(startRun(ctx, run.id)).toBe(false);
    expect(ctx.records.runs.get(run.id)!.state).toBe('queued');
  });

  test.each(runStates.filter((s) => s !== 'queued'))('a run that is %s does not start again', (state) => {
    const ctx = memoryLifecycle();
    const run = aRun({ state });
    ctx.records.runs.insert(run);
    expect(startRun(ctx, run.id)).toBe(false);
    expect(ctx.records.runs.get(run.id)!.state).toBe(state);
  });
});

describe('finishing a run', () => {
  test('two finishes of one run: exactly one wins, and the record keeps the winner', () => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: 'running' });
    ctx.records.runs.insert(run);
    expect(finishRun(ctx, run.id, 'succeeded', null)).toBe(true);
    expect(finishRun(ctx, run.id, 'cancelled', 'run cancelled')).toBe(false);
    expect(ctx.records.runs.get(run.id)).toMatchObject({
      state: 'succeeded',
      error: null,
      leaseOwner: null,
      leaseExpiresAt: null,
    });
    const ends = ctx.records.events.list(run.id, 0, 100).filter((e) => e.phase === 'run');
    expect(ends.map((e) => e.message)).toEqual(['run succeeded']);
  });

  test('two daemons on one database file: the one whose lease was taken can write neither the end nor a backup', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-race-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const daemonOn = (file: string, instanceId: string) => {
      const records = sqliteRecords(openDatabase(file));
      const base = memoryLifecycle();
      return { ...base, records, journal: new RunJournal(records, base.clock, quiet), instanceId };
    };
    const first = daemonOn(join(dir, 'r.db'), 'one-daemon');
    const second = daemonOn(join(dir, 'r.db'), 'other-daemon');
    const run = aRun({ state: 'running', leaseOwner: 'one-daemon' });
    first.records.runs.insert(run);
    const backup = aBackup(run, 'n1', { state: 'transferring' });
    first.records.backups.insert(backup);

    // The second takes the run over (as a recovery does), from the owner it read.
    expect(claimRun(second, run)).toBe(true);
    expect(claimRun(first, run)).toBe(false);
    expect(first.records.runs.renewLease(run.id, 'one-daemon', Date.now() + 60_000)).toBe(false);
    expect(completeBackup(first, backup.id, { locationUrl: 'file:///x/', size: 1, sha256: 'ab', manifest: null })).toBe(false);
    expect(finishRun(first, run.id, 'succeeded', null)).toBe(false);
    expect(finishRun(second, run.id, 'interrupted', 'taken over')).toBe(true);
    expect(first.records.runs.get(run.id)).toMatchObject({ state: 'interrupted', error: 'taken over' });
    expect(first.records.backups.get(backup.id)).toMatchObject({ state: 'failed', error: 'taken over' });
  });

  test('of two finishes racing on one run, exactly one wins', () => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: 'running' });
    ctx.records.runs.insert(run);
    const [a, b] = [finishRun(ctx, run.id, 'failed', 'boom'), finishRun(ctx, run.id, 'interrupted', 'stopped')];
    expect([a, b]).toEqual([true, false]);
    expect(ctx.records.runs.get(run.id)).toMatchObject({ state: 'failed', error: 'boom' });
  });

  test('a queued run can end without starting (cancel before start); it cannot succeed', () => {
    const ctx = memoryLifecycle();
    const run = aRun();
    ctx.records.runs.insert(run);
    expect(finishRun(ctx, run.id, 'succeeded', null)).toBe(false);
    expect(finishRun(ctx, run.id, 'cancelled', 'run cancelled')).toBe(true);
    expect(ctx.records.runs.get(run.id)!.state).toBe('cancelled');
  });

  test('backups still being made fail with the run, and the nodes it held are free', () => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: 'running' });
    ctx.records.runs.insert(run);
    const made = aBackup(run, 'n1', { state: 'transferring' });
    const waiting = aBackup(run, 'n2');
    const kept = aBackup(run, 'n3', { state: 'available' });
    for (const b of [made, waiting, kept]) ctx.records.backups.insert(b);
    ctx.records.nodeLocks.take(run.id, ['n1', 'n2', 'n3']);

    expect(finishRun(ctx, run.id, 'failed', 'internal error: boom')).toBe(true);
    expect(ctx.records.backups.get(made.id)).toMatchObject({ state: 'failed', error: 'internal error: boom' });
    expect(ctx.records.backups.get(waiting.id)).toMatchObject({ state: 'failed', error: 'internal error: boom' });
    expect(ctx.records.backups.get(kept.id)).toMatchObject({ state: 'available', error: null });
    expect(ctx.records.nodeLocks.heldAmong(['n1', 'n2', 'n3'])).toBeUndefined();
  });

  test('a restore ends with its run: partially_failed becomes failed, with the phase it stopped in', () => {
    const ctx = memoryLifecycle();
    const { run, restore } = recordRestore(ctx.records, { run: 'running', restore: 'running' });

    expect(finishRun(ctx, run.id, 'partially_failed', 'rescued: timeout', { failedPhase: 'rescue_booted' })).toBe(true);
    expect(ctx.records.restores.get(restore.id)).toMatchObject({
      state: 'failed',
      error: 'rescued: timeout',
      failedPhase: 'rescue_booted',
      finishedAt: ctx.clock.now(),
    });
    const end = ctx.records.events.list(run.id, 0, 10).at(-1)!;
    expect(end).toMatchObject({ message: 'restore partially_failed: rescued: timeout', host: 'n1', level: 'error' });
  });

  test('a restore that succeeds keeps no failed phase', () => {
    const ctx = memoryLifecycle();
    const { run, restore } = recordRestore(ctx.records, { run: 'running', restore: 'running' });
    expect(finishRun(ctx, run.id, 'succeeded', null, { failedPhase: 'recovered' })).toBe(true);
    expect(ctx.records.restores.get(restore.id)).toMatchObject({ state: 'succeeded', failedPhase: null });
  });
});

describe('a backup through its states', () => {
  const setup = () => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: 'running' });
    ctx.records.runs.insert(run);
    const backup = aBackup(run, 'n1');
    ctx.records.backups.insert(backup);
    return { ctx, backup };
  };
  const stored = { locationUrl: 'file:///b/', size: 3, sha256: 'ab', manifest: null };

  test('pending -> transferring -> available, with what was stored', () => {
    const { ctx, backup } = setup();
    expect(completeBackup(ctx, backup.id, stored)).toBe(false);
    expect(transferBackup(ctx, backup.id)).toBe(true);
    expect(transferBackup(ctx, backup.id)).toBe(false);
    expect(completeBackup(ctx, backup.id, stored)).toBe(true);
    expect(ctx.records.backups.get(backup.id)).toMatchObject({ state: 'available', ...stored, error: null });
    expect(failBackup(ctx, backup, 'late')).toBe(false);
    expect(ctx.records.backups.get(backup.id)!.state).toBe('available');
  });

  test('a failure is journalled once; a failed backup can be deleted, once', () => {
    const { ctx, backup } = setup();
    expect(failBackup(ctx, backup, 'image: rear mkbackup: exit 1')).toBe(true);
    expect(failBackup(ctx, backup, 'again')).toBe(false);
    expect(ctx.records.backups.get(backup.id)).toMatchObject({ state: 'failed', error: 'image: rear mkbackup: exit 1' });
    const failures = ctx.records.events.list(backup.runId, 0, 10).filter((e) => e.level === 'error');
    expect(failures.map((e) => e.message)).toEqual([`backup ${backup.id} failed: image: rear mkbackup: exit 1`]);
    expect(markDeleting(ctx, backup.id)).toBe(true);
    expect(markDeleting(ctx, backup.id)).toBe(false);
  });

  test('a backup being made cannot be marked for deletion', () => {
    const { ctx, backup } = setup();
    expect(markDeleting(ctx, backup.id)).toBe(false);
    transferBackup(ctx, backup.id);
    expect(markDeleting(ctx, backup.id)).toBe(false);
  });
});
