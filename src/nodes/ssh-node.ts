import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Client, type ClientChannel } from 'ssh2';
import type { NodeSession, TargetHost } from '../core/ports.ts';

export interface HostKeyPins {
  get(node: string): string | null;
  pin(node: string, sha256: string): void;
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * A session on a node over SSH (ssh2). The node's host key is pinned at first contact and a
 * different key later is refused: the daemon is about to pull whole-node images from it.
 */
export async function openSshSession(host: TargetHost, pins: HostKeyPins, timeoutMs = 15_000): Promise<NodeSession> {
  const privateKey = host.privateKeyFile ? await readFile(host.privateKeyFile) : undefined;
  const client = new Client();
  let keyMismatch: string | null = null;
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', (err) => reject(keyMismatch ? new Error(keyMismatch) : err));
    client.connect({
      host: host.address,
      port: host.port,
      username: host.user,
      privateKey,
      agent: privateKey ? undefined : process.env.SSH_AUTH_SOCK,
      readyTimeout: timeoutMs,
      keepaliveInterval: 10_000,
      hostVerifier: (key: Buffer) => {
        const sha = createHash('sha256').update(key).digest('base64');
        const pinned = pins.get(host.name);
        if (pinned === null) {
          pins.pin(host.name, sha);
          return true;
        }
        if (pinned === sha) return true;
        keyMismatch = `host key of ${host.name} changed (pinned SHA256:${pinned}, offered SHA256:${sha}); refusing to connect`;
        return false;
      },
    });
  });
  client.on('error', () => undefined);

  const execChannel = (command: string) =>
    new Promise<ClientChannel>((resolve, reject) => client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch))));

  return {
    async exec(command) {
      const ch = await execChannel(command);
      let stdout = '';
      let stderr = '';
      ch.on('data', (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number>((resolve) => ch.on('close', (c: number | null) => resolve(c ?? 255)));
      return { stdout, stderr, code };
    },

    async readFile(path) {
      const ch = await execChannel(`exec cat -- ${quote(path)}`);
      return commandOutput(
        ch,
        (stderr, code) => new Error(`reading ${path} on ${host.name} failed: ${stderr || `exit ${code}`}`),
      );
    },

    close() {
      client.end();
    },
  };
}

/**
 * A command's stdout that ends only when the command exits 0 and fails with `failure` otherwise.
 * Fed from the channel's 'data' events rather than piped through a PassThrough: one stream hop
 * less per 32 KiB packet is a tenth of the data path's CPU (bench/README.md).
 */
function commandOutput(ch: ClientChannel, failure: (stderr: string, code: number | null) => Error): Readable {
  let stderr = '';
  let exitCode: number | null = null;
  const out = new Readable({
    highWaterMark: 1 << 20,
    read: () => ch.resume(),
    destroy: (err, done) => {
      if (!ch.destroyed) ch.close();
      done(err);
    },
  });
  ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  ch.on('exit', (c: number | null) => (exitCode = c));
  ch.on('error', (err: Error) => out.destroy(err));
  ch.on('data', (chunk: Buffer) => out.push(chunk) || ch.pause());
  ch.on('close', () => (exitCode === 0 ? out.push(null) : out.destroy(failure(stderr.trim(), exitCode))));
  return out;
}
