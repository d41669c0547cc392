import { posix } from 'node:path';

export interface SftpLocation {
  user: string;
  host: string;
  port: number;
  /** Absolute directory on the server, without a trailing slash ('/' stays '/'). */
  root: string;
}

/** `sftp://user@host[:port]/absolute/path` -> its parts. The user is required: no login is guessed. */
export function parseSftpUrl(url: string): SftpLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid sftp storage URL: ${url}`);
  }
  if (u.protocol !== 'sftp:') throw new Error(`not an sftp:// URL: ${url}`);
  if (!u.username) throw new Error(`sftp storage URL needs a user (sftp://user@host/path): ${url}`);
  if (u.password) throw new Error('sftp storage URL must not carry a password: the key file authenticates');
  const path = decodeURIComponent(u.pathname);
  if (!path.startsWith('/') || path.split('/').includes('..'))
    throw new Error(`sftp storage URL needs an absolute path without '..': ${url}`);
  return {
    user: decodeURIComponent(u.username),
    // IPv6 literals come bracketed in URLs; ssh2 wants them bare.
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 22,
    root: posix.normalize(path).replace(/(.)\/$/, '$1'),
  };
}
