import type { CoreContext } from './context.ts';

/**
 * At start-up: restores a dead daemon left live end `interrupted` (their runs were already marked
 * by run recovery), and whatever was staged for network boots is removed, so that no node boots
 * a rescue image that no restore is following.
 */
export async function recoverInterruptedRestores(ctx: CoreContext): Promise<void> {
  for (const restore of ctx.records.restores.unfinished()) {
    const now = ctx.clock.now();
    ctx.records.restores.update(restore.id, {
      state: 'interrupted',
      error: 'the daemon stopped during this restore; its boot configs were removed at the next start',
      finishedAt: now,
      updatedAt: now,
    });
    ctx.journal.record(
      restore.runId,
      'recovery',
      `restore ${restore.id} interrupted; boot configs for ${restore.macs.join(', ')} removed`,
      {
        level: 'error',
        host: restore.node,
      },
    );
  }
  await ctx.boot.sweep();
}
