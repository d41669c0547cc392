import { describe, expect, test } from 'vitest';
import type { CoreContext } from '../../../src/core/context.ts';
import { LiveRuns } from '../../../src/core/runs/live-runs.ts';

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
