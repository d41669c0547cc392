import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import type { Storage, StoredObject } from '../core/ports.ts';
import { SftpConnection, type SftpSession } from './sftp-connection.ts';
import { isConnectionLost, isNoSuchFile, sftpError, SftpStorageError, statusOf } from './sftp-errors.ts';
import { request, sftpReadStream, SftpWriteStream } from './sftp-io.ts';
import { parseSftpUrl, type SftpLocation } from './sftp-url.ts';
import { SizeGuard } from './size-guard.ts';
import { byKey, checkKey, checkPrefix, PARTIAL_PREFIX } from './storage-key.ts';

export interface SftpStorageOptions {
  /** `sftp://user@host[:port]/absolute/path`; the directory must exist. */
  url: string;
  /** The user's private key (OpenSSH or PEM format, unencrypted). */
  privateKeyFile: string;
  /** The server's host key fingerprint as `ssh-keygen -lf <key>.pub` prints it: `SHA256:<base64>`. */
  hostKeySha256: string;
  /** Handshake timeout. */
  connectTimeoutMs?: number;
}

/**
 * `sftp://` storage on a plain backup server over SSH (ssh2's SFTP client). Like file://, an object
 * is written to a hidden temporary name in its directory, fsynced, then renamed with SFTP's own
 * RENAME, which OpenSSH's server implements as link + unlink: it fails when the name exists, so an
 * object appears only complete and is never overwritten. (`posix-rename@openssh.com` would replace
 * an existing object: not used.)
 */
export class SftpStorage implements Storage {
  private readonly location: SftpLocation;
  private readonly connection: SftpConnection;
  private readonly base: string;

  constructor(opts: SftpStorageOptions) {
    this.location = parseSftpUrl(opts.url);
    const { user, host, port, root } = this.location;
    const hostPart = `${host.includes(':') ? `[${host}]` : host}${port === 22 ? '' : `:${port}`}`;
    this.base = `sftp://${user}@${hostPart}${root === '/' ? '' : root}`;
    this.connection = new SftpConnection(this.location, opts, this.base, opts.connectTimeoutMs ?? 15_000);
  }

  locationOf(prefix: string): string {
    return `${this.base}/${prefix}`;
  }

  /** Closes the connection; the next operation opens a new one. */
  close(): void {
    this.connection.close();
  }

  async put(key: string, body: Readable, opts: { size?: number } = {}): Promise<StoredObject> {
    const where = this.locationOf(key);
    let session: SftpSession;
    let target: string;
    try {
      target = this.path(key);
      session = await this.connection.session();
      if (await exists(session, target)) throw existsError(where);
      await this.makeParents(session, posix.dirname(target));
    } catch (err) {
      body.destroy();
      throw sftpError(where, 'put', err);
    }

    const temp = posix.join(posix.dirname(target), `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}`);
    let handle: Buffer | undefined;
    try {
      handle = await request<Buffer>(session, (sftp, cb) => sftp.open(temp, 'wx', { mode: 0o640 }, cb));
      const guard = new SizeGuard(opts.size);
      const out = new SftpWriteStream(session, handle);
      await new Promise<void>((resolve, reject) => pipeline(body, guard, out, (err) => (err ? reject(err) : resolve())));
      // Durable before it gets its name (fsync@openssh.com; other servers offer no way to ask).
      const h = handle;
      if (hasExtension(session.sftp, 'fsync@openssh.com')) await request(session, (sftp, cb) => sftp.ext_openssh_fsync(h, cb));
      await request(session, (sftp, cb) => sftp.close(h, cb));
      handle = undefined;
      const { size } = await request<Stats>(session, (sftp, cb) => sftp.stat(temp, cb));
      if (size !== guard.bytes) throw new Error(`sent ${guard.bytes} bytes but the server holds ${size}`);
      await request(session, (sftp, cb) => sftp.rename(temp, target, cb)).catch(async (err) => {
        throw (await exists(session, target)) ? existsError(where) : err;
      });
      return { key, size };
    } catch (err) {
      body.destroy();
      const failure = sftpError(where, 'put', await this.explainWriteFailure(session, temp, err));
      const leftover = await this.removePartial(session, temp, handle);
      if (leftover) failure.message += `; cleanup failed, ${temp} remains (${leftover})`;
      throw failure;
    }
  }

  get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    return this.retrying(key, 'get', async (session, path) => {
      const handle = await request<Buffer>(session, (sftp, cb) => sftp.open(path, 'r', cb));
      const close = () => request(session, (sftp, cb) => sftp.close(handle, cb)).catch(() => undefined);
      try {
        const { size } = await request<Stats>(session, (sftp, cb) => sftp.fstat(handle, cb));
        // range.end is inclusive, as in HTTP and fs.createReadStream.
        const end = Math.min(size, range?.end === undefined ? size : range.end + 1);
        return sftpReadStream(session, handle, { start: Math.min(range?.start ?? 0, end), end }, close);
      } catch (err) {
        await close();
        throw err;
      }
    });
  }

  head(key: string): Promise<StoredObject | null> {
    return this.retrying(key, 'head', async (session, path) => {
      try {
        const s = await request<Stats>(session, (sftp, cb) => sftp.stat(path, cb));
        return s.isFile() ? { key, size: s.size } : null;
      } catch (err) {
        if (isNoSuchFile(err)) return null;
        throw err;
      }
    });
  }

  async delete(key: string): Promise<void> {
    await this.retrying(key, 'delete', async (session, path) => {
      await request(session, (sftp, cb) => sftp.unlink(path, cb)).catch((err) => {
        if (!isNoSuchFile(err)) throw err;
      });
      // Drop directories the object leaves empty, up to (not including) the root.
      for (let dir = posix.dirname(path); dir.startsWith(this.rootSlash()); dir = posix.dirname(dir)) {
        const removed = await request(session, (sftp, cb) => sftp.rmdir(dir, cb)).then(
          () => true,
          () => false,
        );
        if (!removed) break;
      }
    });
  }

  async list(prefix: string): Promise<StoredObject[]> {
    try {
      checkPrefix(prefix);
    } catch (err) {
      throw sftpError(this.locationOf(prefix), 'list', err);
    }
    // Walk only the deepest directory the prefix names.
    const dirKey = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : undefined;
    return this.retrying(dirKey, 'list', async (session, start) => {
      const out: StoredObject[] = [];
      const walk = async (dir: string): Promise<void> => {
        let entries: FileEntryWithStats[];
        try {
          entries = await request<FileEntryWithStats[]>(session, (sftp, cb) => sftp.readdir(dir, cb));
        } catch (err) {
          if (isNoSuchFile(err)) return;
          throw err;
        }
        for (const e of entries) {
          const full = posix.join(dir, e.filename);
          if (e.attrs.isDirectory()) await walk(full);
          // Temporaries of puts in progress (or of a crashed daemon) are not objects.
          else if (e.attrs.isFile() && !e.filename.startsWith(PARTIAL_PREFIX)) {
            const key = full.slice(this.rootSlash().length);
            if (key.startsWith(prefix)) out.push({ key, size: e.attrs.size });
          }
        }
      };
      await walk(start);
      return out.sort(byKey);
    });
  }

  /** Writes, syncs and removes a one-byte probe in the root: proves login, directory, permission and free space. */
  async checkWritable(): Promise<void> {
    await this.retrying(undefined, 'write check', async (session, root) => {
      const s = await request<Stats>(session, (sftp, cb) => sftp.stat(root, cb)).catch((err) => {
        if (!isNoSuchFile(err)) throw err;
        throw new SftpStorageError(`${this.base}: the directory ${root} does not exist on the server`, 'ENOENT');
      });
      if (!s.isDirectory()) throw new SftpStorageError(`${this.base}: ${root} is not a directory`, 'ENOTDIR');
      const probe = posix.join(root, `${PARTIAL_PREFIX}write-check-${randomBytes(6).toString('hex')}`);
      let handle: Buffer | undefined;
      try {
        handle = await request<Buffer>(session, (sftp, cb) => sftp.open(probe, 'wx', cb));
        const out = new SftpWriteStream(session, handle);
        out.end(Buffer.from('\n'));
        await finished(out);
      } catch (err) {
        throw await this.explainWriteFailure(session, probe, err);
      } finally {
        await this.removePartial(session, probe, handle);
      }
    });
  }

  /**
   * OpenSSH answers a full disk with a bare FAILURE ("Failure"): the free space of the directory
   * (statvfs@openssh.com) tells the operator whether that is why.
   */
  private async explainWriteFailure(session: SftpSession, path: string, err: unknown): Promise<unknown> {
    if (statusOf(err) !== 4 || !hasExtension(session.sftp, 'statvfs@openssh.com')) return err;
    // ssh2 answers with the statvfs(3) field names (its typings say otherwise).
    const fs = await request<unknown>(session, (sftp, cb) => sftp.ext_openssh_statvfs(posix.dirname(path), cb)).catch(
      () => undefined,
    );
    const { f_bavail, f_frsize } = (fs ?? {}) as { f_bavail?: number; f_frsize?: number };
    const free = Number(f_bavail) * Number(f_frsize);
    // Less than one write request's worth left: the write did not fit.
    if (!Number.isFinite(free) || free >= 1024 * 1024) return err;
    return new SftpStorageError(
      `${this.base}: write failed: no space left on the server's disk (${free} bytes free; server: "${(err as Error).message}")`,
      'ENOSPC',
    );
  }

  /** Removes a temporary file, on a new connection if the old one dropped; returns why it could not. */
  private async removePartial(session: SftpSession, path: string, handle?: Buffer): Promise<string | undefined> {
    if (handle) await request(session, (sftp, cb) => sftp.close(handle, cb)).catch(() => undefined);
    try {
      const live = await this.connection.session();
      await request(live, (sftp, cb) => sftp.unlink(path, cb)).catch((err) => {
        if (!isNoSuchFile(err)) throw err;
      });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /**
   * Runs an idempotent operation on the key's path (the root's, without a key), once more on a
   * new connection if the connection dropped under it.
   */
  private async retrying<T>(
    key: string | undefined,
    action: string,
    op: (session: SftpSession, path: string) => Promise<T>,
  ): Promise<T> {
    try {
      const path = key === undefined ? this.location.root : this.path(key);
      for (let attempt = 0; ; attempt++) {
        const session = await this.connection.session();
        try {
          return await op(session, path);
        } catch (err) {
          if (attempt > 0 || !(session.closed || isConnectionLost(err))) throw err;
        }
      }
    } catch (err) {
      throw sftpError(this.locationOf(key ?? ''), action, err);
    }
  }

  /** Creates the missing directories between the root (which must exist) and `dir`. */
  private async makeParents(session: SftpSession, dir: string): Promise<void> {
    if (!dir.startsWith(this.rootSlash()) || (await exists(session, dir))) return;
    await this.makeParents(session, posix.dirname(dir));
    await request(session, (sftp, cb) => sftp.mkdir(dir, { mode: 0o750 }, cb)).catch(async (err) => {
      // Another put of the same backup may have made it meanwhile.
      if (!(await exists(session, dir))) throw err;
    });
  }

  private rootSlash(): string {
    return this.location.root === '/' ? '/' : `${this.location.root}/`;
  }

  private path(key: string): string {
    return this.rootSlash() + checkKey(key);
  }
}

function existsError(where: string): SftpStorageError {
  return new SftpStorageError(`${where}: put refused: the object exists and is never overwritten`, 'EEXIST');
}

async function exists(session: SftpSession, path: string): Promise<boolean> {
  try {
    await request<Stats>(session, (sftp, cb) => sftp.stat(path, cb));
    return true;
  } catch (err) {
    if (isNoSuchFile(err)) return false;
    throw err;
  }
}

function hasExtension(sftp: SFTPWrapper, name: string): boolean {
  // ssh2 keeps the extensions the server announced here; its typings do not declare the field.
  return (sftp as unknown as { _extensions: Record<string, string> })._extensions[name] !== undefined;
}
