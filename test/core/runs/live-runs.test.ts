import { describe, expect, test } from 'vitest';
import type { CoreContext } from '../../../src/core/context.ts';
import { LiveRuns } from '../../../src/core/runs/live-runs.ts';
import { aRun, memoryLifecycle, quiet } from '../memory-records.ts';

// admitOn touches no port: a context with a lease length is all the heartbeat needs.
const live = () => new LiveRuns({ leaseMs: 60_000 } as CoreContext);
const refuse = (claimant: string) => new Error(`being started: ${claimant}`);

describe('LiveRuns.admitOn', () => {
  test('a second admission on a claimed target is refused at once with the claimant; other targets are free', async () => {
    const runs = live();
    let finish!: (v: string) => void;
    const first = runs.admitOn('overcloud', 'run_a', () => new Promise<string>((r) => (finish = r)), refuse);
    await expect(runs.admitOn('overcloud', 'run_b', async () => 'b', refuse)).rejects.toThrow('being started: run_a');
    expect(await runs.admitOn('undercloud', 'run_c', async () => 'c', refuse)).toBe('c');
    finish('a');
    expect(await first).toBe('a');
    expect(await runs.admitOn('overcloud', 'run_d', async () => 'd', refuse)).toBe('d');
  });

  test('a failed admission releases the target', async () => {
    const runs = live();
    await expect(runs.admitOn('overcloud', 'run_a', async () => Promise.reject(new Error('no hosts')), refuse)).rejects.toThrow(
      'no hosts',
    );
    expect(await runs.admitOn('overcloud', 'run_b', async () => 'b', refuse)).toBe('b');
  });
});

describe('LiveRuns leases', () => {
  test('a run whose lease another daemon takes is stopped with lease_lost at the next renewal', async () => {
    const ctx = { ...memoryLifecycle(), leaseMs: 3000, log: quiet } as unknown as CoreContext;
    const runs = new LiveRuns(ctx);
    const run = aRun({ state: 'running' });
    ctx.records.runs.insert(run);
    let reason: unknown;
    runs.start(
      run.id,
      (signal) => new Promise<void>((r) => signal.addEventListener('abort', () => r(void (reason = signal.reason)))),
    );
    expect(ctx.records.runs.claim(run.id, 'test-daemon', 'other-daemon', Date.now() + 60_000)).toBe(true);
    await runs.settled();
    expect(reason).toBe('lease_lost');
    expect(ctx.records.runs.get(run.id)).toMatchObject({ state: 'running', leaseOwner: 'other-daemon' });
    await runs.shutdown();
  });

  test('a run still held has its lease extended', async () => {
    const base = memoryLifecycle();
    const ctx = { ...base, leaseMs: 3000, log: quiet } as unknown as CoreContext;
    const runs = new LiveRuns(ctx);
    const run = aRun({ state: 'running', leaseExpiresAt: 0 });
    ctx.records.runs.insert(run);
    let stop!: () => void;
    runs.start(run.id, () => new Promise<void>((r) => (stop = r)));
    await new Promise((r) => setTimeout(r, 1200));
    expect(ctx.records.runs.get(run.id)!.leaseExpiresAt).toBe(base.clock.now() + 3000);
    stop();
    await runs.shutdown();
  });
});
