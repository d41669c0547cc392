import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, link, mkdir, readdir, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Storage, StoredObject } from '../core/ports.ts';
import { FileSink } from './file-sink.ts';

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
    return pathToFileURL(this.path(prefix)).href + (prefix.endsWith('/') ? '/' : '');
  }

  async put(key: string, body: Readable, opts: { size?: number } = {}): Promise<StoredObject> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const temp = join(dirname(target), `.partial-${randomBytes(6).toString('hex')}`);
    const out = new FileSink(temp, { mode: 0o640 });
    try {
      await pipeline(body, out);
      const { size } = await stat(temp);
      if (opts.size !== undefined && size !== opts.size) throw new Error(`${key}: expected ${opts.size} bytes, wrote ${size}`);
      await link(temp, target);
      return { key, size };
    } finally {
      await unlink(temp).catch(() => undefined);
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
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
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const full = join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) {
          const key = relative(this.root, full).split(sep).join('/');
          if (key.startsWith(prefix)) out.push({ key, size: (await stat(full)).size });
        }
      }
    };
    // Walk only the deepest directory the prefix names.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart ? this.path(dirPart) : this.root);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async checkWritable(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root, constants.W_OK);
  }

  /** Keys are relative and stay inside the root. */
  private path(key: string): string {
    const p = resolve(this.root, key);
    if (key.startsWith('/') || key.split('/').includes('..') || (p !== this.root && !p.startsWith(this.root + sep))) {
      throw new Error(`invalid storage key ${key}`);
    }
    return p;
  }
}
