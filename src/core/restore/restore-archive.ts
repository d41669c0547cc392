import type { Readable } from 'node:stream';
import type { RestoreContext } from '../context.ts';
import { bootArtefacts } from './restore-artefacts.ts';
import { openArtefact } from './restore-run.ts';

/** The file archive of a live restore's backup, as plaintext, for the rescue system to recover from. */
export async function openRestoreArchive(
  ctx: RestoreContext,
  restoreId: string,
): Promise<{ body: Readable; size: number } | null> {
  const restore = ctx.records.restores.get(restoreId);
  if (!restore || restore.state !== 'running') return null;
  const backup = ctx.records.backups.get(restore.backupId);
  if (!backup) return null;
  const { archive } = bootArtefacts(backup);
  if (!archive) return null;
  return { body: await openArtefact(ctx, backup, archive), size: archive.size };
}
