import { close, fdatasync, fsync, open, writev } from 'node:fs';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

const MiB = 1024 * 1024;
const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);
const openAsync = promisify(open);
const closeAsync = promisify(close);

/**
 * A file that a stream is written to durably, fast: chunks are gathered and written with one
 * writev per `batchBytes` (an ssh channel delivers 32 KiB chunks, and a thread-pool round trip per
 * chunk costs more than the copy), and the data written so far is flushed to disk every
 * `syncEveryBytes` while the stream goes on, so that the fsync at the end, before the file counts
 * as written, waits for little.
 */
export class FileSink extends Writable {
  private fd: number | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private unsynced = 0;
  private syncing: Promise<void> | null = null;
  private syncError: Error | null = null;
  private writing: Promise<void> | null = null;
  private readonly mode: number;
  private readonly batchBytes: number;
  private readonly syncEveryBytes: number;

  constructor(
    private readonly path: string,
    opts: { mode?: number; batchBytes?: number; syncEveryBytes?: number } = {},
  ) {
    const batchBytes = opts.batchBytes ?? MiB;
    super({ highWaterMark: batchBytes });
    this.mode = opts.mode ?? 0o640;
    this.batchBytes = batchBytes;
    this.syncEveryBytes = opts.syncEveryBytes ?? 64 * MiB;
  }

  override _construct(done: (err?: Error | null) => void): void {
    openAsync(this.path, 'wx', this.mode).then(
      (fd) => {
        this.fd = fd;
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.batchBytes) return done();
    this.writing = this.flushPending();
    this.writing.then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    this.writing = this.flushPending();
    this.writing
      .then(() => this.syncing)
      .then(() => {
        // A background sync that failed may have been the only report of a lost write (Linux
        // reports a writeback error once): the file is not written, whatever a new fsync says.
        if (this.syncError) throw this.syncError;
        return fsyncAsync(this.fd!);
      })
      .then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = null;
    if (fd === null) return done(err);
    // The descriptor stays open until no write or sync still uses it.
    Promise.allSettled([this.writing, this.syncing])
      .then(() => closeAsync(fd))
      .then(
        () => done(err),
        (closeErr: Error) => done(err ?? closeErr),
      );
  }

  private async flushPending(): Promise<void> {
    if (this.syncError) throw this.syncError;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (bytes === 0) return;
    // A short write (e.g. the disk filled up) is followed by a write of the rest, which fails
    // with the reason (ENOSPC) or goes on.
    for (let written = 0; written < bytes;) {
      const { bytesWritten } = await writevAsync(this.fd!, written === 0 ? chunks : after(chunks, written));
      if (bytesWritten === 0) throw new Error(`${this.path}: the file system took no bytes`);
      written += bytesWritten;
    }
    this.unsynced += bytes;
    if (this.unsynced >= this.syncEveryBytes && !this.syncing) {
      this.unsynced = 0;
      // Not awaited: the disk writes back what is written while the next batches arrive.
      this.syncing = fdatasyncAsync(this.fd!).then(
        () => void (this.syncing = null),
        (err: Error) => void ((this.syncError = err), (this.syncing = null)),
      );
    }
  }
}

/** The chunks' bytes from `offset` on. */
function after(chunks: Buffer[], offset: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const c of chunks) {
    if (offset >= c.length) offset -= c.length;
    else {
      rest.push(offset ? c.subarray(offset) : c);
      offset = 0;
    }
  }
  return rest;
}
