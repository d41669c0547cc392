import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Writes a file that the boot servers may serve at any moment: written aside under a hidden
 * temporary name, then renamed, so that a booting node never reads half of it. Readable by all
 * (mode 0644 whatever the umask). Returns the number of bytes written.
 */
export async function writeWholeFile(file: string, data: Buffer | Readable): Promise<number> {
  await mkdir(dirname(file), { recursive: true, mode: 0o755 });
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.part`);
  const out = createWriteStream(temp, { flags: 'wx' });
  try {
    await pipeline(Buffer.isBuffer(data) ? Readable.from([data]) : data, out);
    await chmod(temp, 0o644);
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return out.bytesWritten;
}
