/**
 * SFTP failures as one sentence for an operator: where, what was being done, what it means and the
 * server's own words, e.g. `sftp://backup@vault/srv/rg: put failed: permission denied (server: "Permission denied")`.
 */
export class SftpStorageError extends Error {
  constructor(
    message: string,
    /** What failed, in errno words: ENOENT, EACCES, EEXIST, ENOSPC, EAUTH, EHOSTKEY, ECONNLOST, or a socket code. */
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SftpStorageError';
  }
}

// SFTP v3 status codes (draft-ietf-secsh-filexfer-02), as ssh2 puts them on err.code.
const STATUS: Record<number, { code: string; meaning: string }> = {
  2: { code: 'ENOENT', meaning: 'no such file or directory' },
  3: { code: 'EACCES', meaning: 'permission denied' },
  // OpenSSH maps every errno it has no status for (ENOSPC, EDQUOT, EEXIST, EROFS, EIO) to FAILURE.
  4: { code: 'EFAILURE', meaning: 'the server refused' },
  5: { code: 'EBADMSG', meaning: 'the server found the request malformed' },
  8: { code: 'ENOTSUP', meaning: 'the server does not support the operation' },
};

/** ssh2 fails every pending SFTP request with this when the connection closes under them. */
const CONNECTION_LOST = 'No response from server';

export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNoSuchFile(err: unknown): boolean {
  return statusOf(err) === 2 || (err as { code?: unknown })?.code === 'ENOENT';
}

export function isConnectionLost(err: unknown): boolean {
  return (err as Error)?.message === CONNECTION_LOST || (err as { code?: unknown })?.code === 'ECONNLOST';
}

/** Wraps any failure of an SFTP call; our own errors (and size mismatches of the stream) keep their message. */
export function sftpError(where: string, action: string, err: unknown): SftpStorageError {
  if (err instanceof SftpStorageError) return err;
  const e = (err ?? {}) as { message?: string };
  const status = STATUS[statusOf(err) ?? -1];
  if (status) return new SftpStorageError(`${where}: ${action} failed: ${status.meaning} (server: "${e.message}")`, status.code);
  if (isConnectionLost(err)) return new SftpStorageError(`${where}: ${action} failed: the connection was lost`, 'ECONNLOST');
  const code = (err as { code?: unknown })?.code;
  return new SftpStorageError(
    `${where}: ${action} failed: ${e.message ?? String(err)}`,
    typeof code === 'string' ? code : undefined,
  );
}

/** Failures of the SSH connection itself: refused key, unreachable server, timeout. */
export function connectError(where: string, user: string, keyFile: string, err: unknown): SftpStorageError {
  const e = err as { level?: string; code?: string; message?: string };
  if (e.level === 'client-authentication')
    return new SftpStorageError(
      `${where}: authentication refused for user ${user} with the key ${keyFile} (${e.message})`,
      'EAUTH',
    );
  if (e.level === 'client-timeout')
    return new SftpStorageError(`${where}: the SSH server did not complete the handshake in time`, 'ETIMEDOUT');
  if (e.level === 'client-socket' || e.level === 'client-dns')
    return new SftpStorageError(`${where}: SSH server unreachable (${e.code ?? ''}${e.code ? ': ' : ''}${e.message})`, e.code);
  return sftpError(where, 'connect', err);
}
