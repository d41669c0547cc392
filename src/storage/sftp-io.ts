import { Readable, Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import type { SftpSession } from './sftp-connection.ts';

/**
 * Streams over an open SFTP handle. SFTP is request/response: one request at a time waits a round
 * trip per chunk (ssh2's createReadStream/createWriteStream do that), so these keep several
 * requests in flight, as OpenSSH's sftp client does.
 */

/**
 * Reads of 32 KiB with 64 in flight, OpenSSH sftp's own defaults: measured here (bench/node-read.ts)
 * at ~2x the rate of 64-252 KiB reads, which OpenSSH's sftp-server serves in bursts.
 */
export const SFTP_READ_CHUNK = 32 * 1024;
export const SFTP_READ_REQUESTS = 64;
/** Writes gather the stream's small chunks up to this size (OpenSSH accepts up to 255 KiB). */
export const SFTP_WRITE_CHUNK = 252 * 1024;
export const SFTP_WRITE_REQUESTS = 16;

/**
 * One SFTP request as a promise. ssh2 silently drops requests on a closed channel (their callback
 * never runs): those fail here at once, as the ones pending at the close do in ssh2.
 */
export function request<T = void>(
  session: SftpSession,
  fn: (sftp: SFTPWrapper, cb: (err: Error | null | undefined, value: T) => void) => void,
): Promise<T> {
  if (session.closed) return Promise.reject(Object.assign(new Error('the connection was lost'), { code: 'ECONNLOST' }));
  return new Promise((resolve, reject) => fn(session.sftp, (err, value) => (err ? reject(err) : resolve(value))));
}

function readChunk(session: SftpSession, handle: Buffer, position: number, length: number): Promise<Buffer> {
  return request(session, (sftp, cb) =>
    sftp.read(handle, Buffer.allocUnsafe(length), 0, length, position, (err, bytes, data) =>
      cb(err, err ? Buffer.alloc(0) : data.subarray(0, bytes)),
    ),
  );
}

/**
 * The bytes [start, end) of an open file, in order, with `requests` reads in flight; back-pressure
 * stops new requests. `close` runs once the stream ends or is destroyed.
 */
export function sftpReadStream(
  session: SftpSession,
  handle: Buffer,
  range: { start: number; end: number },
  close: () => Promise<void>,
  opts: { chunk?: number; requests?: number } = {},
): Readable {
  const chunk = opts.chunk ?? SFTP_READ_CHUNK;
  const requests = opts.requests ?? SFTP_READ_REQUESTS;
  // Fills [pos, pos + length) even when the server answers short (it may, for any request).
  const readFully = async (pos: number, length: number): Promise<Buffer> => {
    const first = await readChunk(session, handle, pos, length);
    if (first.length === length) return first;
    const parts = [first];
    for (let got = first.length; got < length;) {
      const more = await readChunk(session, handle, pos + got, length - got);
      if (more.length === 0) throw new Error(`file ended at ${pos + got} bytes, expected ${range.end}`);
      parts.push(more);
      got += more.length;
    }
    return Buffer.concat(parts);
  };
  async function* chunks() {
    const queue: Promise<Buffer>[] = [];
    let next = range.start;
    try {
      for (;;) {
        while (queue.length < requests && next < range.end) {
          const pending = readFully(next, Math.min(chunk, range.end - next));
          // Awaited in order below; an early failure must not count as unhandled meanwhile.
          pending.catch(() => undefined);
          queue.push(pending);
          next += chunk;
        }
        const head = queue.shift();
        if (!head) return;
        yield await head;
      }
    } finally {
      await close();
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: chunk });
}

/**
 * Writes a stream at increasing offsets of an open file with up to `requests` writes in flight.
 * Small chunks (ssh channels deliver 32 KiB) are gathered into one request. Finishes only when
 * the server acknowledged every byte.
 */
export class SftpWriteStream extends Writable {
  private offset = 0;
  private inFlight = 0;
  private failure: Error | null = null;
  private wake?: () => void;

  constructor(
    private readonly session: SftpSession,
    private readonly handle: Buffer,
    private readonly requests = SFTP_WRITE_REQUESTS,
  ) {
    super({ highWaterMark: SFTP_WRITE_CHUNK });
  }

  /** Bytes the server acknowledged or has in flight. */
  get bytes(): number {
    return this.offset;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.send(chunk, done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.send(Buffer.concat(chunks.map((c) => c.chunk)), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    const settled = () => (this.inFlight === 0 ? done(this.failure) : (this.wake = settled));
    settled();
  }

  private send(data: Buffer, done: (err?: Error | null) => void): void {
    if (this.failure) return done(this.failure);
    const position = this.offset;
    this.offset += data.length;
    this.inFlight++;
    const settle = (err: unknown) => {
      this.inFlight--;
      this.failure ??= (err as Error) ?? null;
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    };
    request(this.session, (sftp, cb) => sftp.write(this.handle, data, 0, data.length, position, cb)).then(
      () => settle(null),
      settle,
    );
    if (this.inFlight < this.requests) done();
    else this.wake = () => done(this.failure);
  }
}
