import { randomUUID } from 'node:crypto';
import type { Server, ServerOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.ts';
import type { Logger } from '../core/ports.ts';
import { problemOfStatus } from './problem.ts';

export type HttpLimits = Config['http'];

/**
 * Node's parser holds the request line and headers together to one limit: it is set above the
 * API's own two (with room for the method and version), so that the app sees an oversized URL or
 * header block and names which (414 or 431); only far larger heads stop at the parser.
 */
export function httpServerOptions(limits: HttpLimits): ServerOptions {
  return { maxHeaderSize: limits.maxUrlBytes + limits.maxHeaderBytes + 1024 };
}

/** How long a refused client may go on sending before its socket is destroyed. */
const drainMs = 2000;

/**
 * Requests Node's parser refuses (a NUL or other control byte in a header, a head over the parser's
 * limit, a malformed request line) never reach the app; Node would answer a bare 400 or 431 and
 * reset. Here they get the problem+json every other error gets, and the socket is drained before
 * it closes so that the client reads the answer instead of a reset.
 */
export function answerClientErrors(server: Server, limits: HttpLimits, log: Logger): void {
  const answered = new WeakSet<Duplex>();
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string; rawPacket?: Buffer }, socket: Duplex) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(err, limits);
    const requestId = randomUUID();
    const detail =
      status === 431
        ? `the request line and headers exceed ${limits.maxUrlBytes + limits.maxHeaderBytes} bytes`
        : status === 414
          ? `the request target exceeds ${limits.maxUrlBytes} bytes`
          : status === 408
            ? 'the request was not received in time'
            : `malformed request: ${err.reason ?? err.message} (${err.code ?? 'parse error'})`;
    const body = JSON.stringify(problemOfStatus(status, detail));
    log.info({ status, code: err.code, requestId }, 'http: refused by the parser');
    socket.end(
      `HTTP/1.1 ${status} ${problemOfStatus(status, '').title}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
    socket.on('data', () => {});
    setTimeout(() => socket.destroy(), drainMs).unref();
  });
}

function clientErrorStatus(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, limits: HttpLimits): number {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (err.code !== 'HPE_HEADER_OVERFLOW') return 400;
  // The parser does not say whether the request line or a header overflowed; a packet that starts
  // with a request line longer than the URL limit is the former.
  const head = err.rawPacket?.subarray(0, limits.maxUrlBytes + 64).toString('latin1') ?? '';
  const lineEnd = head.indexOf('\r\n');
  return /^[A-Z]+ \S/.test(head) && (lineEnd < 0 || lineEnd > limits.maxUrlBytes) ? 414 : 431;
}
