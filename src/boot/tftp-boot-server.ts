/**
 * The daemon's read-only TFTP server for PXE boot files, on the npm `tftp` package (0.1.2):
 * the package parses requests and negotiates blksize (RFC 2348), windowsize (RFC 7440) and tsize;
 * this module decides what may be read and how its blocks are sent (./tftp-send.ts).
 *
 * Read-only: the package refuses write requests itself (`denyPUT`), and the request listener
 * never writes. It serves only regular files whose real path is inside the real path of `root`:
 * the package would follow symlinks out of it. Every request ends in one `onFetch` report, which
 * names what was asked for in the boot root's layout (./boot-root.ts).
 */
import type { RemoteInfo } from 'node:dgram';
import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import tftp, { type GetStream, type PutStream, type Server } from 'tftp';
import rrq from 'tftp/lib/protocol/packets/rrq.js';
import type { BootFetch, Logger } from '../core/ports.ts';
import { resolveBootPath } from './boot-root.ts';
import { sendFile, takeOverTransfer } from './tftp-send.ts';

export interface TftpBootServerOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The directory it serves; nothing outside it, ever. */
  root: string;
  log: Logger;
  /** Called once per request when it ends (sent, refused or failed). */
  onFetch?: (f: BootFetch) => void;
}

const RRQ = 1;
const WRQ = 2;
/** The largest blksize granted: any a client asks (jumbo-frame networks), as tftpd-hpa does. */
const MAX_BLKSIZE = 65464;
/** The largest windowsize granted (iPXE and pxelinux never ask; atftp asks what it is told). */
const MAX_WINDOWSIZE = 64;
/** Retransmission after 1 s without an ACK, 5 times, then the transfer fails (tftpd-hpa: 1 s). */
const TIMEOUT_MS = 1000;
const RETRIES = 5;

/** Why a file is not served, and the TFTP error the client gets. */
class Refusal {
  constructor(
    readonly tftpError: string,
    readonly reason: string,
  ) {}
}

export class TftpBootServer {
  private server: Server | undefined;
  private realRoot = '';
  /** Transfers in progress, to abort on stop; each resolves once reported. */
  private readonly active = new Map<GetStream, Promise<void>>();

  constructor(private readonly opts: TftpBootServerOptions) {}

  async start(): Promise<{ host: string; port: number }> {
    this.realRoot = await realpath(this.opts.root);
    const server = tftp.createServer(
      {
        host: this.opts.host,
        root: this.realRoot,
        denyPUT: true,
        blockSize: MAX_BLKSIZE,
        windowSize: MAX_WINDOWSIZE,
        timeout: TIMEOUT_MS,
        retries: RETRIES,
      },
      (req, res) => this.onRequest(req, res),
    );
    // The package reads port 0 as "unset" (-> 69); it binds to `server.port` on listen().
    server.port = this.opts.port;
    // Requests the package refuses before any listener sees them (write requests, `../` names,
    // bad modes or options) are only visible on its listening socket.
    server._socket.on('message', (message: Buffer, rinfo: RemoteInfo) => this.onPacket(message, rinfo));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', () => {
        server.off('error', reject);
        resolve();
      });
      server.listen();
    });
    server.on('error', (error: Error) => this.opts.log.error({ err: error }, 'tftp: server socket error'));
    this.server = server;
    const address = server._socket.address();
    this.opts.log.info({ host: address.address, port: address.port, root: this.realRoot }, 'tftp: serving boot files');
    return { host: address.address, port: address.port };
  }

  /** Stops listening and aborts the transfers in progress. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise((resolve) => server.once('close', resolve));
    server.close();
    for (const req of this.active.keys()) req.abort('Aborted: the boot server is stopping');
    await Promise.all([closed, ...this.active.values()]);
  }

  private onPacket(message: Buffer, rinfo: RemoteInfo): void {
    const client = rinfo.address;
    const op = message.length >= 2 ? message.readUInt16BE(0) : 0;
    if (op !== RRQ && op !== WRQ) {
      this.opts.log.warn({ client, bytes: message.length }, 'tftp: malformed packet answered with an error');
      return;
    }
    const end = message.indexOf(0, 2);
    const file = message.toString('latin1', 2, end === -1 ? message.length : end);
    if (op === WRQ) return this.report({ client, file }, 'refused', 'write request: the boot server is read-only');
    const invalid = packageRefusal(message);
    if (invalid) this.report({ client, file }, 'refused', invalid);
  }

  private onRequest(req: GetStream, res: PutStream): void {
    const client = req.stats.remoteAddress;
    const { file } = req;
    this.opts.log.info({ client, file, blksize: req.stats.blockSize, windowsize: req.stats.windowSize }, 'tftp: read request');
    let refusal: Refusal | undefined;
    let failure: string | undefined;
    let closed = false;
    let size = 0;
    let handle: FileHandle | undefined;
    req.on('error', (error: Error) => (failure = error.message));
    req.on('abort', () => (failure ??= 'aborted: the boot server is stopping'));
    const done = new Promise<void>((resolve) =>
      // `close` comes first, then `error` or `abort` in the same tick: report after them.
      req.on('close', () => {
        closed = true;
        process.nextTick(() => {
          this.active.delete(req);
          void handle?.close();
          if (refusal) this.report({ client, file }, 'refused', refusal.reason);
          else if (failure) this.report({ client, file }, 'failed', failure);
          else this.report({ client, file }, 'sent', undefined, size);
          resolve();
        });
      }),
    );
    this.active.set(req, done);

    const refuse = (r: Refusal) => {
      refusal = r;
      req.abort(r.tftpError);
    };
    // Never reached while `denyPUT` holds; were it to break, a write still gets nothing but an error.
    if (req.method !== 'GET') return refuse(new Refusal(tftp.EACCESS, 'write request: the boot server is read-only'));
    const serve = async () => {
      await takeOverTransfer(res);
      const opened = await this.openInRoot(file);
      if (opened instanceof Refusal) return refuse(opened);
      if (closed) return opened.handle.close();
      handle = opened.handle;
      size = opened.size;
      sendFile(req, res, opened.handle, opened.size);
    };
    serve().catch((error: Error) => {
      failure ??= error.message;
      req.abort(tftp.EIO);
    });
  }

  /** Opens `file` if it is a regular file inside the real root. */
  private async openInRoot(file: string): Promise<{ handle: FileHandle; size: number } | Refusal> {
    if (isAbsolute(file) || file.split('/').includes('..')) {
      return new Refusal(tftp.EACCESS, 'the path leaves the boot root');
    }
    let real: string;
    try {
      real = await realpath(join(this.realRoot, file));
    } catch (error) {
      return fsRefusal(error);
    }
    if (real !== this.realRoot && !real.startsWith(this.realRoot + sep)) {
      return new Refusal(tftp.EACCESS, 'a symlink leads out of the boot root');
    }
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: the checked path cannot have become a symlink since. O_NONBLOCK: a FIFO put
      // there meanwhile opens at once (and is refused below) instead of blocking a thread.
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      return fsRefusal(error);
    }
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return new Refusal(tftp.EACCESS, stats.isDirectory() ? 'a directory' : 'not a regular file');
    }
    return { handle, size: stats.size };
  }

  private report(at: { client: string; file: string }, outcome: BootFetch['outcome'], reason?: string, bytes = 0): void {
    const file = at.file.replace(/^\/+/, '');
    if (outcome === 'sent') this.opts.log.info({ client: at.client, file, bytes }, 'tftp: sent');
    else this.opts.log.warn({ client: at.client, file, bytes, reason }, `tftp: ${outcome}`);
    const target = resolveBootPath(file);
    this.opts.onFetch?.({
      protocol: 'tftp',
      client: at.client,
      target,
      path: file,
      outcome,
      bytes,
      ...(reason ? { reason } : {}),
    });
  }
}

/** Why the package refuses a read request before any listener sees it (lib/server.js), if it does. */
function packageRefusal(message: Buffer): string | undefined {
  if (message.length < 9 || message.length > 512) return 'Malformed TFTP message';
  try {
    rrq.deserialize(message);
    return undefined;
  } catch (error) {
    return (error as { message: string }).message;
  }
}

function fsRefusal(error: unknown): Refusal {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new Refusal(tftp.ENOENT, 'no such file');
  if (code === 'ELOOP') return new Refusal(tftp.EACCESS, 'a symlink in the way');
  return new Refusal(tftp.EACCESS, `cannot open: ${code ?? (error as Error).message}`);
}
