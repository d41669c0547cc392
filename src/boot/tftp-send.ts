/**
 * The data phase of one TFTP read, in place of the npm `tftp` package's own (0.1.2, pinned).
 *
 * The package negotiates the request (OACK, blksize, windowsize, tsize) well, but its per-block
 * path is slow and fragile: every DATA packet is copied into a new buffer and sent on an
 * unconnected socket (so Node resolves the address again, through a nextTick, for every packet),
 * every window allocates closures, arrays and a fresh timer, data goes through a Writable stream,
 * and a packet shorter than 2 bytes on a transfer's port throws inside its 'message' handler,
 * which would take the whole daemon down. Here, for one transfer's writer (the package's
 * `res._writer`): its socket is connected to the client (the kernel then drops packets from any
 * other address or port, the TID check the package does not make), DATA packets are a fresh
 * 4-byte header plus a view of a 1 MiB chunk read ahead from the file, ACKs are handled with no
 * allocation, and one interval per transfer retransmits. The package's request lifecycle is kept:
 * errors from the client, the end of the transfer and its events (`close`, `error`, `abort` on
 * `req`) are still its own.
 */
import type { Socket } from 'node:dgram';
import type { FileHandle } from 'node:fs/promises';
import type { GetStream, PutStream } from 'tftp';

const DATA = 3;
const ACK = 4;
const CHUNK_BYTES = 1024 * 1024;

/** The parts of the package's server-side writer (lib/protocol/writer.js, request.js) used here. */
interface Writer {
  _socket: Socket;
  _address: string;
  _port: number;
  _closed: boolean;
  _closing: boolean;
  _timeout: number;
  _retries: number;
  _send(buffer: Buffer, cb?: () => void): void;
  _onMessage(buffer: Buffer): void;
  _onCloseFn(): void;
  _close(error?: Error): void;
  onContinue(): void;
}

const writerOf = (res: PutStream) => (res as unknown as { _writer: Writer })._writer;

/**
 * Connects the transfer's socket to its client and guards its packet handler; call it before
 * anything is sent on the request (before `req.abort` or `res.setSize`).
 */
export async function takeOverTransfer(res: PutStream): Promise<void> {
  const writer = writerOf(res);
  const socket = writer._socket;
  const packageOnMessage = writer._onMessage.bind(writer);
  // No TFTP packet is shorter than 4 bytes; the package would throw reading the opcode of a 0-
  // or 1-byte one.
  writer._onMessage = (buffer) => {
    if (buffer.length >= 4) packageOnMessage(buffer);
  };
  // A socket error (e.g. ECONNREFUSED once the client is gone) ends the request in the package
  // but leaves its socket open: close it, without the package's close handler, which would end
  // the request a second time.
  socket.on('error', () => {
    socket.removeListener('close', writer._onCloseFn);
    socket.close();
  });
  await new Promise<void>((resolve, reject) =>
    socket.connect(writer._port, writer._address, (error?: Error) => (error ? reject(error) : resolve())),
  );
  // A connected socket must not be given an address again (Node throws ERR_SOCKET_DGRAM_IS_CONNECTED).
  writer._send = (buffer, cb) => {
    if (!writer._closed && !writer._closing) socket.send(buffer, cb);
  };
}

/**
 * Sends `size` bytes of `file` as the answer to `req` (after `takeOverTransfer`). Returns at once;
 * the transfer ends with the request's `close` event (and `error` when it failed).
 */
export function sendFile(req: GetStream, res: PutStream, file: FileHandle, size: number): void {
  const writer = writerOf(res);
  const socket = writer._socket;
  const { blockSize, windowSize } = req.stats;
  const lastBlock = Math.floor(size / blockSize) + 1; // a file of n whole blocks ends with an empty one
  const chunkBlocks = Math.max(windowSize, Math.ceil(CHUNK_BYTES / blockSize));
  /** Chunks of the file by index, read (Buffer) or being read (Promise). */
  const chunks = new Map<number, Buffer | Promise<void>>();

  // Blocks are numbered from 1 without wrapping here; on the wire they wrap to 0 after 65535
  // (rollover 0, as the package and tftpd-hpa do).
  let acked = 0;
  let next = 1;
  let sent = 0; // the highest block sent so far
  let waiting = false;
  let ackedAtLastTick = -1; // the first tick after the first window counts as progress: >= 1 s before a resend
  let idleTicks = 0;
  let started = false;

  const chunkOf = (block: number) => Math.floor((block - 1) / chunkBlocks);

  const load = (index: number): Buffer | Promise<void> => {
    const have = chunks.get(index);
    if (have) return have;
    const start = index * chunkBlocks * blockSize;
    const length = Math.min(chunkBlocks * blockSize, size - start);
    const buffer = Buffer.allocUnsafe(length);
    const reading = file.read(buffer, 0, length, start).then(
      ({ bytesRead }) => {
        if (bytesRead !== length)
          throw new Error(`the file shrank while it was being sent (${bytesRead} of ${length} bytes at ${start})`);
        chunks.set(index, buffer);
      },
      (error: Error) => {
        throw new Error(`reading the file: ${error.message}`);
      },
    );
    chunks.set(index, reading);
    return reading;
  };

  // A read-ahead that fails is reported by the pump when it gets to that chunk.
  const readAhead = (index: number) => {
    const chunk = load(index);
    if (!Buffer.isBuffer(chunk)) chunk.catch(() => undefined);
  };

  const fail = (error: Error) => {
    if (!writer._closed && !writer._closing) writer._close(error);
  };

  const pump = () => {
    if (waiting || writer._closed || writer._closing) return;
    const end = Math.min(acked + windowSize, lastBlock);
    while (next <= end) {
      const index = chunkOf(next);
      const chunk = load(index);
      if (!Buffer.isBuffer(chunk)) {
        waiting = true;
        chunk.then(() => {
          waiting = false;
          pump();
        }, fail);
        return;
      }
      const offset = (next - 1 - index * chunkBlocks) * blockSize;
      const header = Buffer.allocUnsafe(4);
      header.writeUInt16BE(DATA, 0);
      header.writeUInt16BE(next & 0xffff, 2);
      socket.send([header, chunk.subarray(offset, offset + blockSize)]);
      if (offset === 0 && index < chunkOf(lastBlock)) readAhead(index + 1);
      sent = Math.max(sent, next++);
    }
  };

  const onAck = (wire: number) => {
    // The block acknowledged is the one at or after `acked` with these low 16 bits; anything
    // beyond what was sent is stale. Duplicate ACKs are ignored (no Sorcerer's Apprentice):
    // the interval retransmits.
    const block = acked + ((wire - acked) & 0xffff);
    if (block <= acked || block > sent) return;
    acked = block;
    if (acked === lastBlock) {
      clearInterval(ticker);
      writer._close();
      return;
    }
    for (const index of chunks.keys()) if (index < chunkOf(acked + 1)) chunks.delete(index);
    next = acked + 1; // RFC 7440: the next window starts after the last block acknowledged
    pump();
  };

  const ticker = setInterval(() => {
    if (!started) return;
    if (acked !== ackedAtLastTick) {
      ackedAtLastTick = acked;
      idleTicks = 0;
      return;
    }
    if (++idleTicks > writer._retries) return fail(new Error('Timed out'));
    next = acked + 1;
    pump();
  }, writer._timeout);

  const guardedOnMessage = writer._onMessage;
  writer._onMessage = (buffer) => {
    if (started && buffer.length === 4 && buffer.readUInt16BE(0) === ACK) onAck(buffer.readUInt16BE(2));
    else guardedOnMessage(buffer);
  };
  req.on('close', () => {
    clearInterval(ticker);
    chunks.clear();
  });

  writer.onContinue = () => {
    started = true;
    pump();
  };
  res.setSize(size);
}
