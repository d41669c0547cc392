import { createConnection, type Socket } from 'node:net';

/**
 * One connection to a qemu's QMP socket: JSON objects, one per line; the server greets, the client
 * leaves negotiation with `qmp_capabilities`, then every command gets one `return` or `error`
 * reply in order, with asynchronous `event` lines between them.
 */
export class QmpSession {
  private buffer = '';
  private readonly replies: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private greeted!: Promise<void>;
  private closed: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {}

  static async open(path: string, timeoutMs = 10_000): Promise<QmpSession> {
    const socket = createConnection(path);
    const session = new QmpSession(socket, path);
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`QMP ${path}: no answer within ${timeoutMs} ms`)));
    session.greeted = new Promise((resolve, reject) => session.replies.push({ resolve: () => resolve(), reject }));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => session.read(chunk));
    socket.on('error', (err) => session.fail(new Error(`QMP ${path}: ${err.message}`)));
    socket.on('close', () => session.fail(new Error(`QMP ${path}: connection closed`)));
    await session.greeted;
    await session.execute('qmp_capabilities');
    return session;
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      this.replies.push({ resolve, reject });
      this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    });
  }

  close(): void {
    this.socket.end();
  }

  private read(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.message(line);
    }
  }

  private message(line: string): void {
    let msg: { QMP?: unknown; return?: unknown; error?: { class: string; desc: string }; event?: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return this.fail(new Error(`QMP ${this.path}: not JSON: ${line.slice(0, 200)}`));
    }
    if (msg.event) return;
    const waiter = this.replies.shift();
    if (!waiter) return;
    if (msg.error) waiter.reject(new Error(`QMP ${this.path}: ${msg.error.class}: ${msg.error.desc}`));
    else waiter.resolve(msg.return ?? msg.QMP);
  }

  private fail(err: Error): void {
    this.closed ??= err;
    for (const w of this.replies.splice(0)) w.reject(err);
  }
}
