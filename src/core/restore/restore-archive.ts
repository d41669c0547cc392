import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { RestoreContext } from '../context.ts';
import type { Artefact } from '../model.ts';
import { bootArtefacts, storageMismatch } from './restore-artefacts.ts';
import { openArtefact } from './restore-run.ts';

/**
 * The file archive of a live restore's backup, as plaintext, for the rescue system to recover
 * from. The rescue system streams it into ReaR's restore and may have no sha256sum, so it is
 * checked against the manifest on the way: one that differs loses its last chunk and the stream
 * fails, a short read the rescue hook counts as a mismatch.
 */
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
  const body = withheldUnlessVerified(archive);
  // Either end failing or going away (the node closing the connection) ends both.
  pipeline(await openArtefact(ctx, backup, archive), body, () => {});
  return { body, size: archive.size };
}

/** Passes a stream on one chunk behind, hashing it: the last chunk goes out only if the whole is the artefact. */
function withheldUnlessVerified(artefact: Artefact): Transform {
  const hash = createHash('sha256');
  let bytes = 0;
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      const mismatch = storageMismatch(artefact, bytes, hash.digest('hex'));
      if (!mismatch) return done(null, held);
      done(new Error(`${mismatch.message}: its end withheld`));
    },
  });
}
