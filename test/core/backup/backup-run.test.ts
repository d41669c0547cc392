import { afterEach, describe, expect, test } from 'vitest';
import { startBackup } from '../../../src/core/backup/start-backup.ts';
import { memoryCore } from '../memory-core.ts';

/** A backup run from request to its last record, with a scripted agent: every way it can end. */
let core: ReturnType<typeof memoryCore>;
afterEach(() => core?.dispose());

const backup = (stopall: 'yes' | 'no' = 'no', idempotencyKey?: string) =>
  startBackup(core.ctx, core.live, { target: 'overcloud', stopall, requestedBy: 'test', idempotencyKey });

const settle = async (runId: string) => {
  await core.live.settled();
  return { run: core.ctx.records.runs.get(runId)!, backups: core.ctx.records.backups.ofRun(runId) };
};

describe('a backup run', () => {
  test('images every host, stores and verifies each image, removes staging, and frees the nodes', async () => {
    core = memoryCore();
    const started = await backup('yes');
    const { run, backups } = await settle(started.run.id);
    expect(run).toMatchObject({ state: 'succeeded', error: null, quiesceOpen: false, leaseOwner: null });
    expect(core.agent.calls).toEqual([{ call: 'image', run: run.id, stopAll: true, hosts: ['ctl0', 'ctl1', 'ctl2'] }]);
    for (const b of backups) {
      expect(b.state).toBe('available');
      expect(b.manifest!.artefacts.map((a) => a.name)).toEqual(['backup.tar.gz']);
      expect(await core.ctx.storage.head(`${b.target}/${b.node}/${b.id}/manifest.json`)).not.toBeNull();
      expect([...(core.nodes.files.get(b.node)?.keys() ?? [])]).toEqual([]);
    }
    expect(core.ctx.records.nodes.find('ctl1')!.macs).toEqual(['52:54:00:00:00:01']);
    expect(core.ctx.records.nodeLocks.heldAmong(['ctl0', 'ctl1', 'ctl2'])).toBeUndefined();
  });

  test('stopall=no asks the agent for one host at a time', async () => {
    core = memoryCore();
    await settle((await backup('no')).run.id);
    expect(core.agent.calls[0]).toMatchObject({ call: 'image', stopAll: false });
  });

  test('a host that fails imaging fails its backup alone: the run is partially_failed with its reason', async () => {
    core = memoryCore();
    core.agent.script.set('ctl1', { fail: 'image: rear mkbackup: exit 1' });
    const { run, backups } = await settle((await backup()).run.id);
    expect(run.state).toBe('partially_failed');
    expect(run.error).toBe('ctl1: image: rear mkbackup: exit 1');
    expect(backups.map((b) => [b.node, b.state])).toEqual([
      ['ctl0', 'available'],
      ['ctl1', 'failed'],
      ['ctl2', 'available'],
    ]);
    // A failed host means the agent did not end clean: services are made sure of, and the failed
    // host's image (nothing will transfer it) is discarded, while the others are transferred.
    const ctl1 = backups.find((b) => b.node === 'ctl1')!;
    expect(core.agent.calls[1]).toMatchObject({ call: 'unquiesce', discard: [ctl1.id] });
  });

  test('when services may still be stopped the run says so and stays open for the next start', async () => {
    core = memoryCore();
    core.agent.script.set('ctl0', { fail: 'quiesce: stop mariadb: timeout' });
    core.agent.unquiesceFails = true;
    const { run } = await settle((await backup()).run.id);
    expect(run.state).toBe('partially_failed');
    expect(run.error).toContain('services may still be stopped');
    expect(run.quiesceOpen).toBe(true);
  });

  test('a refused preflight fails the run with its reason; nothing needs restarting', async () => {
    core = memoryCore();
    core.agent.preflightRefusal =
      'preflight failed on ctl2: preflight: staging dir free space: 12 MB free; nothing was stopped on any host';
    const { run, backups } = await settle((await backup()).run.id);
    expect(run).toMatchObject({ state: 'failed', error: core.agent.preflightRefusal, quiesceOpen: false });
    expect(backups.every((b) => b.state === 'failed')).toBe(true);
    expect(core.agent.calls.map((c) => c.call)).toEqual(['image']);
  });

  test('storage that cannot be written fails the run before any node is touched', async () => {
    core = memoryCore();
    core.ctx.storage.checkWritable = async () => {
      throw new Error('quota exceeded');
    };
    const { run, backups } = await settle((await backup()).run.id);
    expect(run).toMatchObject({ state: 'failed', error: 'preflight: storage is not writable: quota exceeded' });
    expect(backups.every((b) => b.error === run.error)).toBe(true);
    expect(core.agent.calls).toEqual([]);
  });

  test('a cancel while imaging ends the run cancelled after services are made sure of', async () => {
    core = memoryCore();
    core.agent.hold = new Promise(() => {});
    const started = await backup();
    await new Promise((r) => setImmediate(r));
    expect(core.live.stop(started.run.id, 'cancelled')).toBe(true);
    const { run, backups } = await settle(started.run.id);
    expect(run).toMatchObject({ state: 'cancelled', error: 'run cancelled' });
    expect(backups.every((b) => b.state === 'failed' && b.error === 'playbook cancelled')).toBe(true);
    expect(core.agent.calls[1]).toMatchObject({ call: 'unquiesce', discard: backups.map((b) => b.id) });
  });

  test('a run stopped after imaging, before its transfers, leaves no image on any node', async () => {
    core = memoryCore();
    // The stop lands once the agent has staged every image and ended clean.
    const image = core.agent.image.bind(core.agent);
    core.agent.image = async (req) => {
      const outcome = await image(req);
      core.live.stop(req.run.id, 'cancelled');
      return outcome;
    };
    const started = await backup();
    const { run, backups } = await settle(started.run.id);
    expect(run.state).toBe('cancelled');
    expect(backups.every((b) => b.error === 'run cancelled before the backup was transferred')).toBe(true);
    for (const b of backups) expect([...(core.nodes.files.get(b.node)?.keys() ?? [])]).toEqual([]);
  });

  test('a bug in a run still ends its records true: failed, its backups failed, its nodes free', async () => {
    core = memoryCore();
    core.agent.throws = new TypeError('cannot read properties of undefined');
    const { run, backups } = await settle((await backup()).run.id);
    expect(run).toMatchObject({ state: 'failed', error: 'internal error: cannot read properties of undefined' });
    expect(backups.every((b) => b.state === 'failed' && b.error === run.error)).toBe(true);
    expect(core.ctx.records.nodeLocks.heldAmong(['ctl0'])).toBeUndefined();
  });

  test('a second request while the run is live is refused; a repeated Idempotency-Key gets the first run', async () => {
    core = memoryCore();
    core.agent.hold = new Promise(() => {});
    const first = await backup('no', 'key-1');
    await expect(backup('yes')).rejects.toThrow(`a backup run is already live on overcloud: ${first.run.id}`);
    const again = await backup('no', 'key-1');
    expect(again).toMatchObject({ created: false, run: { id: first.run.id } });
    await expect(backup('yes', 'key-1')).rejects.toThrow('this Idempotency-Key was already used for a different request');
    core.live.stop(first.run.id, 'cancelled');
    await settle(first.run.id);
  });
});
