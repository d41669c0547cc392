import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Client, type SFTPWrapper } from 'ssh2';
import { connectError, SftpStorageError } from './sftp-errors.ts';
import type { SftpLocation } from './sftp-url.ts';

export interface SftpSession {
  sftp: SFTPWrapper;
  /** Set once the connection is gone: the next operation opens a new one. */
  closed: boolean;
}

/** `SHA256:<base64>` as OpenSSH prints it (prefix and padding optional) -> the bare unpadded base64. */
export function normalizeFingerprint(fingerprint: string): string {
  const bare = fingerprint
    .trim()
    .replace(/^SHA256:/, '')
    .replace(/=+$/, '');
  // 32 bytes are 43 base64 characters without padding.
  if (!/^[A-Za-z0-9+/]{43}$/.test(bare))
    throw new Error(`host key fingerprint must be SHA256:<base64> as ssh-keygen -lf prints it, got ${fingerprint}`);
  return bare;
}

/**
 * One SSH connection with its SFTP channel, opened on first use and again after it dropped. The
 * server's host key must be the pinned one: a backup server that changed keys is refused, never
 * trusted on first use.
 */
export class SftpConnection {
  private current?: Promise<SftpSession>;
  private live?: SftpSession;
  private readonly fingerprint: string;

  constructor(
    private readonly location: SftpLocation,
    private readonly auth: { privateKeyFile: string; hostKeySha256: string },
    private readonly where: string,
    private readonly timeoutMs: number,
  ) {
    this.fingerprint = normalizeFingerprint(auth.hostKeySha256);
  }

  session(): Promise<SftpSession> {
    if (this.live?.closed) this.current = this.live = undefined;
    if (!this.current) {
      const opening = this.connect();
      this.current = opening;
      opening.then(
        (s) => {
          if (this.current === opening) this.live = s;
        },
        () => {
          if (this.current === opening) this.current = undefined;
        },
      );
    }
    return this.current;
  }

  close(): void {
    const open = this.current;
    this.current = this.live = undefined;
    void open?.then(
      (s) => s.sftp.end(),
      () => undefined,
    );
  }

  private async connect(): Promise<SftpSession> {
    const { privateKeyFile } = this.auth;
    let privateKey: Buffer;
    try {
      privateKey = await readFile(privateKeyFile);
    } catch (err) {
      throw new SftpStorageError(
        `${this.where}: cannot read the private key ${privateKeyFile}: ${(err as Error).message}`,
        'EAUTH',
      );
    }
    const client = new Client();
    // ssh2 may emit more than one error (e.g. a socket error after a refused handshake): the first
    // rejects the connect below, later ones surface as failed requests.
    client.on('error', () => undefined);
    let refusedKey: string | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', (err) =>
        reject(
          refusedKey
            ? new SftpStorageError(
                `${this.where}: host key mismatch: the server offered SHA256:${refusedKey}, the configuration pins SHA256:${this.fingerprint}; refusing to connect`,
                'EHOSTKEY',
              )
            : connectError(this.where, this.location.user, privateKeyFile, err),
        ),
      );
    });
    client.connect({
      host: this.location.host,
      port: this.location.port,
      username: this.location.user,
      privateKey,
      readyTimeout: this.timeoutMs,
      // A silent peer fails the pending requests after ~30 s instead of hanging a backup.
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        const offered = createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
        if (offered === this.fingerprint) return true;
        refusedKey = offered;
        return false;
      },
    });
    await ready;

    const session = await new Promise<SftpSession>((resolve, reject) =>
      client.sftp((err, sftp) => {
        if (err) {
          client.end();
          reject(new SftpStorageError(`${this.where}: the server offers no SFTP subsystem (${err.message})`, 'ENOTSUP'));
        } else resolve({ sftp, closed: false });
      }),
    );
    const dropped = () => {
      session.closed = true;
      client.end();
    };
    // A connection that failed or closed is renewed by the next operation.
    client.on('error', dropped);
    client.on('close', dropped);
    session.sftp.on('close', dropped);
    return session;
  }
}
