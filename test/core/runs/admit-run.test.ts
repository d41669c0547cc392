import { describe, expect, test } from 'vitest';
import type { Run } from '../../../src/core/model.ts';
import { admitRun } from '../../../src/core/runs/admit-run.ts';
import { finishRun } from '../../../src/core/runs/run-lifecycle.ts';
import { aRun, memoryLifecycle } from '../memory-records.ts';

const admission = (run: Run, nodes: string[], replay = (earlier: Run) => earlier.id) => ({
  run,
  nodes,
  replay,
  record: () => run.id,
});

describe('admitting a run', () => {
  test('records the run queued and holds its nodes until it ends', () => {
    const ctx = memoryLifecycle();
    const run = aRun();
    expect(admitRun(ctx, admission(run, ['n1', 'n2']))).toEqual({ value: run.id, created: true });
    expect(ctx.records.runs.get(run.id)!.state).toBe('queued');
    expect(ctx.records.nodeLocks.heldAmong(['n2'])).toEqual({ node: 'n2', runId: run.id, kind: 'backup', restoreId: null });
    finishRun(ctx, run.id, 'cancelled', 'run cancelled');
    expect(ctx.records.nodeLocks.heldAmong(['n1', 'n2'])).toBeUndefined();
  });

  test('a restore of a node a backup holds is refused with the backup run, and admitted once it ends', () => {
    const ctx = memoryLifecycle();
    const backup = aRun({ target: 'overcloud' });
    admitRun(ctx, admission(backup, ['ctl-0', 'ctl-1']));
    const restore = aRun({ kind: 'restore', target: 'node:ctl-1' });
    expect(() => admitRun(ctx, admission(restore, ['ctl-1']))).toThrow(
      expect.objectContaining({
        kind: 'conflict',
        message: `node ctl-1 is being backed up by run ${backup.id}`,
        details: { run_id: backup.id },
      }),
    );
    expect(ctx.records.runs.get(restore.id)).toBeUndefined();
    finishRun(ctx, backup.id, 'cancelled', 'run cancelled');
    expect(admitRun(ctx, admission(restore, ['ctl-1'])).created).toBe(true);
  });

  test('a backup of a target one of whose nodes is being restored is refused with the restore run', () => {
    const ctx = memoryLifecycle();
    const restore = aRun({ kind: 'restore', target: 'node:ctl-1' });
    admitRun(ctx, admission(restore, ['ctl-1']));
    const backup = aRun({ target: 'overcloud' });
    expect(() => admitRun(ctx, admission(backup, ['ctl-0', 'ctl-1', 'ctl-2']))).toThrow(
      `node ctl-1 is being restored by run ${restore.id}`,
    );
    expect(ctx.records.nodeLocks.heldAmong(['ctl-0'])).toBeUndefined();
  });

  test('a second run on a live target is refused with the first', () => {
    const ctx = memoryLifecycle();
    const first = aRun();
    admitRun(ctx, admission(first, ['n1']));
    expect(() => admitRun(ctx, admission(aRun(), ['n9']))).toThrow(`a backup run is already live on overcloud: ${first.id}`);
  });

  test('a repeated Idempotency-Key gets the earlier answer, even once the target is busy', () => {
    const ctx = memoryLifecycle();
    const first = aRun({ idempotencyKey: 'k1' });
    admitRun(ctx, admission(first, ['n1']));
    const again = aRun({ idempotencyKey: 'k1' });
    expect(
      admitRun(
        ctx,
        admission(again, ['n1'], (earlier) => `replayed ${earlier.id}`),
      ),
    ).toEqual({
      value: `replayed ${first.id}`,
      created: false,
    });
    expect(ctx.records.runs.get(again.id)).toBeUndefined();
  });

  test('a failed check records nothing and holds nothing', () => {
    const ctx = memoryLifecycle();
    const run = aRun();
    const refused = () =>
      admitRun(ctx, {
        ...admission(run, ['n1']),
        check: () => {
          throw new Error('backup is no longer available');
        },
      });
    expect(refused).toThrow('backup is no longer available');
    expect(ctx.records.runs.get(run.id)).toBeUndefined();
    expect(ctx.records.nodeLocks.heldAmong(['n1'])).toBeUndefined();
  });
});
