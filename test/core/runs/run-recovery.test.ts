import { Readable } from 'node:stream';
import { afterEach, describe, expect, test } from 'vitest';
import { closeDeadRuns, recoverDeadRuns } from '../../../src/core/runs/run-recovery.ts';
import { storagePrefix } from '../../../src/core/backup/stored-backup.ts';
import { memoryCore } from '../memory-core.ts';
import { aBackup, aRun, recordRestore } from '../memory-records.ts';

/** What a daemon that died mid-run left on record, and what the next start makes of it. */
let core: ReturnType<typeof memoryCore>;
afterEach(() => core?.dispose());

function deadBackupRun() {
  const run = aRun({ state: 'running', leaseOwner: 'dead-daemon', quiesceOpen: true });
  core.ctx.records.runs.insert(run);
  const moving = aBackup(run, 'ctl0', { state: 'transferring' });
  const kept = aBackup(run, 'ctl1', { state: 'available' });
  const waiting = aBackup(run, 'ctl2');
  for (const b of [moving, kept, waiting]) core.ctx.records.backups.insert(b);
  core.ctx.records.nodeLocks.take(run.id, ['ctl0', 'ctl1', 'ctl2']);
  return { run, moving, kept, waiting };
}

describe('closing dead runs at start-up', () => {
  test('a live backup run ends interrupted with why; what it was making fails; its nodes are free', () => {
    core = memoryCore();
    const { run, moving, kept, waiting } = deadBackupRun();
    const partial = closeDeadRuns(core.ctx);
    expect(partial.map((b) => b.id).sort()).toEqual([moving.id, waiting.id].sort());
    const after = core.ctx.records.runs.get(run.id)!;
    expect(after).toMatchObject({ state: 'interrupted', leaseOwner: null });
    expect(after.error).toMatch(/^the daemon stopped during this run \(while running \(its lease expired /);
    expect(core.ctx.records.backups.get(moving.id)).toMatchObject({ state: 'failed', error: after.error });
    expect(core.ctx.records.backups.get(kept.id)!.state).toBe('available');
    expect(core.ctx.records.nodeLocks.heldAmong(['ctl0', 'ctl1', 'ctl2'])).toBeUndefined();
    expect(core.ctx.records.events.list(run.id, 0, 10).map((e) => e.phase)).toContain('recovery');
  });

  test('a live restore ends interrupted, saying its boot configs were removed', () => {
    core = memoryCore();
    const { run, restore } = recordRestore(core.ctx.records, { run: 'running', restore: 'running' });
    core.ctx.records.runs.claim(run.id, 'test-daemon', 'dead-daemon', 1);
    closeDeadRuns(core.ctx);
    expect(core.ctx.records.restores.get(restore.id)!.state).toBe('interrupted');
    expect(core.ctx.records.restores.get(restore.id)!.error).toMatch(/during this restore .*its boot configs were removed/);
  });

  test('a run another daemon claimed first is left to it', () => {
    core = memoryCore();
    const { run } = deadBackupRun();
    // Between reading the run and claiming it, another recoverer took it.
    const unfinished = core.ctx.records.runs.unfinished.bind(core.ctx.records.runs);
    core.ctx.records.runs.unfinished = () => {
      const found = unfinished();
      core.ctx.records.runs.claim(run.id, 'dead-daemon', 'quicker-daemon', Date.now() + 60_000);
      return found;
    };
    expect(closeDeadRuns(core.ctx)).toEqual([]);
    expect(core.ctx.records.runs.get(run.id)).toMatchObject({ state: 'running', leaseOwner: 'quicker-daemon' });
  });
});

describe('cleaning up after them, once listening', () => {
  test('partial objects go; the agent restarts services and discards every image that is not available', async () => {
    core = memoryCore();
    const { run, moving, kept, waiting } = deadBackupRun();
    const partialKey = `${storagePrefix(moving)}backup.tar.gz`;
    await core.ctx.storage.put(partialKey, Readable.from([Buffer.from('half an archive')]));
    await recoverDeadRuns(core.ctx, closeDeadRuns(core.ctx));
    expect(await core.ctx.storage.head(partialKey)).toBeNull();
    expect(core.agent.calls).toEqual([
      { call: 'unquiesce', run: run.id, hosts: ['ctl0', 'ctl1', 'ctl2'], discard: [moving.id, waiting.id] },
    ]);
    expect(core.ctx.records.runs.get(run.id)!.quiesceOpen).toBe(false);
    expect(core.ctx.records.backups.get(kept.id)!.state).toBe('available');
  });

  test('services that do not come back keep the run open, to be tried again at the next start', async () => {
    core = memoryCore();
    const { run } = deadBackupRun();
    core.agent.unquiesceFails = true;
    await recoverDeadRuns(core.ctx, closeDeadRuns(core.ctx));
    expect(core.ctx.records.runs.get(run.id)).toMatchObject({ state: 'interrupted', quiesceOpen: true });
    core.agent.unquiesceFails = false;
    await recoverDeadRuns(core.ctx, closeDeadRuns(core.ctx));
    expect(core.ctx.records.runs.get(run.id)!.quiesceOpen).toBe(false);
    expect(core.agent.calls.filter((c) => c.call === 'unquiesce')).toHaveLength(2);
  });
});
