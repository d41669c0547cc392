/**
 * Types for the npm `tftp` package (0.1.2, plain CommonJS, no types of its own): only the server
 * side that src/boot uses, as read from node_modules/tftp/lib.
 */
declare module 'tftp' {
  import type { EventEmitter } from 'node:events';
  import type { Readable, Writable } from 'node:stream';

  export interface ServerOptions {
    /** Default `localhost` (127.0.0.1). */
    host?: string;
    /** `0` is read as "unset" and becomes 69: set `server.port` before `listen()` for any port. */
    port?: number;
    root?: string;
    denyGET?: boolean;
    denyPUT?: boolean;
    /** The largest windowsize granted when a client asks (RFC 7440); default 4. */
    windowSize?: number;
    /** The largest blksize granted when a client asks (RFC 2348); default 1468. */
    blockSize?: number;
    /** Retransmission timeout in ms; default 3000. Clients' `timeout` option is ignored. */
    timeout?: number;
    retries?: number;
  }

  /** What was negotiated for one transfer. */
  export interface RequestStats {
    blockSize: number;
    windowSize: number;
    size: number | null;
    userExtensions: Record<string, string>;
    retries: number;
    timeout: number;
    localAddress: string;
    localPort: number;
    remoteAddress: string;
    remotePort: number;
  }

  /** The "connection": all events of a transfer are emitted here (`close`, `abort`, `error`). */
  export interface GetStream extends Readable {
    method: 'GET' | 'PUT';
    /** The requested name after `path.normalize`. */
    file: string;
    stats: RequestStats;
    /** Sends a TFTP error (the code is found from the message, e.g. `tftp.ENOENT`) and closes. */
    abort(error?: string | Error): void;
    close(): void;
  }

  export interface PutStream extends Writable {
    /** Sends the OACK (or starts sending data); required before writing a GET's data. */
    setSize(size: number): void;
    setUserExtensions(extensions: Record<string, string>): void;
  }

  export interface Server extends EventEmitter {
    host: string;
    port: number;
    root: string;
    listen(): void;
    close(): void;
    /** Internal: the listening socket, which sees every request, even those refused before a listener. */
    _socket: import('node:dgram').Socket;
  }

  export function createServer(options: ServerOptions, listener?: (req: GetStream, res: PutStream) => void): Server;

  /** Error messages; `abort(message)` maps them back to their TFTP error code. */
  export const ENOENT: string;
  export const EACCESS: string;
  export const EIO: string;
  export const EBADOP: string;
  export const EDENY: string;
}

/** The package's own read request parser: throws `{ code, name, message }` for what it refuses. */
declare module 'tftp/lib/protocol/packets/rrq.js' {
  const rrq: { deserialize(message: Buffer): { file: string } };
  export default rrq;
}
