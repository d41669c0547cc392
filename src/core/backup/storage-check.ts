import type { BackupContext } from '../context.ts';

export interface StorageCheck {
  location: string;
  writable: boolean;
  /** The storage's own words for what failed. */
  error: string | null;
  ms: number;
}

/** Writes and removes a probe where backups go: credentials, bucket or directory, and room to write, in one answer. */
export async function checkStorage(ctx: BackupContext): Promise<StorageCheck> {
  const started = ctx.clock.now();
  const location = ctx.storage.locationOf('');
  try {
    await ctx.storage.checkWritable();
    return { location, writable: true, error: null, ms: ctx.clock.now() - started };
  } catch (err) {
    return { location, writable: false, error: (err as Error).message, ms: ctx.clock.now() - started };
  }
}
