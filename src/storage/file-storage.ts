import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, link, mkdir, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Storage, StoredObject } from '../core/ports.ts';
import { FileSink } from './file-sink.ts';
import { SizeGuard } from './size-guard.ts';
import { byKey, checkKey, checkPrefix, PARTIAL_PREFIX } from './storage-key.ts';

/**
 * `file://` storage: objects are files under a root directory. An object is written to a hidden
 * temporary file, fsynced, then hard-linked to its name, which fails if the name exists: objects
 * appear only complete and are never overwritten.
 */
export class FileStorage implements Storage {
  readonly root: string;

  constructor(url: string) {
    // file://./var/backups is relative to the working directory; file:///srv/backups is absolute.
    this.root = url.startsWith('file:///') ? fileURLToPath(url) : resolve(url.slice('file://'.length));
  }

  locationOf(prefix: string): string {
    return pathToFileURL(resolve(this.root, checkPrefix(prefix))).href + (prefix.endsWith('/') ? '/' : '');
  }

  async put(key: string, body: Readable, opts: { size?: number } = {}): Promise<StoredObject> {
    try {
      const target = this.path(key);
      // Refused before a byte is read: a backup is not streamed in full only to be refused.
      if (await this.head(key)) throw existsError(this.locationOf(key));
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const temp = join(dirname(target), `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}`);
      const guard = new SizeGuard(opts.size);
      try {
        await pipeline(body, guard, new FileSink(temp, { mode: 0o640 }));
        const { size } = await stat(temp);
        if (size !== guard.bytes) throw new Error(`${key}: sent ${guard.bytes} bytes but the file holds ${size}`);
        // Another put of the key may have completed meanwhile: link refuses to replace it.
        await link(temp, target).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' ? existsError(this.locationOf(key)) : err;
        });
        return { key, size };
      } finally {
        await unlink(temp).catch(() => undefined);
      }
    } catch (err) {
      // The caller's source (an ssh channel) must not wait for a reader that is gone.
      body.destroy();
      throw err;
    }
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const path = this.path(key);
    await access(path, constants.R_OK);
    return createReadStream(path, range ? { start: range.start, end: range.end } : {});
  }

  async head(key: string): Promise<StoredObject | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await rm(path, { force: true });
    // Drop directories the object leaves empty, up to (not including) the root.
    for (let dir = dirname(path); dir !== this.root && dir.startsWith(this.root + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        // Temporaries of puts in progress (or of a crashed daemon) are not objects.
        else if (e.isFile() && !e.name.startsWith(PARTIAL_PREFIX)) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) out.push({ key, size: (await stat(full)).size });
        }
      }
    };
    checkPrefix(prefix);
    // Walk only the deepest directory the prefix names.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart ? this.path(dirPart) : this.root);
    return out.sort(byKey);
  }

  async checkWritable(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  private path(key: string): string {
    return join(this.root, checkKey(key));
  }
}

function existsError(where: string): Error {
  return Object.assign(new Error(`${where}: put refused: the object exists and is never overwritten`), { code: 'EEXIST' });
}

/** A path that does not exist, also because one of its directories is an object (ENOTDIR): as S3 answers. */
function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
