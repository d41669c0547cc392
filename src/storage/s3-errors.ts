/**
 * S3 failures as one clear sentence for an operator: where, what was being done, what it means,
 * and the storage's own words, e.g.
 * `s3://backups/uc: write check failed: credentials refused (InvalidAccessKeyId: The AWS Access Key Id ...)`.
 * Only the service's code and message are kept: never the request, which carries the signature.
 */
export class S3StorageError extends Error {
  constructor(
    message: string,
    /** The S3 error code (`NoSuchBucket`), a socket error code (`ECONNREFUSED`), or ours (`EEXIST`). */
    readonly code: string | undefined,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'S3StorageError';
  }
}

const CREDENTIAL_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'AuthorizationHeaderMalformed',
  'InvalidSecurity',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

function meaning(code: string | undefined, status: number | undefined): string | undefined {
  if (code && CREDENTIAL_CODES.has(code)) return 'credentials refused';
  if (code === 'AccessDenied') return 'access denied';
  if (code === 'NoSuchBucket') return 'the bucket does not exist';
  if (code === 'NoSuchKey' || code === 'NotFound') return 'no such object';
  if (code && NETWORK_CODES.has(code)) return 'storage endpoint unreachable';
  if (code === 'TimeoutError') return 'storage endpoint did not answer in time';
  // HEAD answers have no body to say which: a 403 is a refused key or a missing permission.
  if (status === 403) return 'access denied or credentials refused';
  if (status !== undefined && status >= 500) return 'storage service error';
  return undefined;
}

/** What a failure means and the storage's own words: `credentials refused (InvalidAccessKeyId: ...)`. */
export function explain(err: unknown): { text: string; code?: string; status?: number } {
  const e = (err ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  // Service errors are named after their S3 code; socket errors carry an errno code.
  const code = e.code ?? (e.name && e.name !== 'Error' ? e.name : undefined);
  const reason = meaning(code, status);
  const detail = `${code ? `${code}: ` : ''}${e.message || `HTTP ${status ?? '?'}`}`;
  return { text: reason ? `${reason} (${detail})` : detail, code, status };
}

/** Wraps any failure of an S3 call; errors of our own (size mismatch, stream errors) keep their message. */
export function s3Error(where: string, action: string, err: unknown): S3StorageError {
  if (err instanceof S3StorageError) return err;
  const { text, code, status } = explain(err);
  return new S3StorageError(`${where}: ${action} failed: ${text}`, code, status);
}

/** Socket errors and 5xx answers: the storage may come back. Auth and input errors will not. */
export function isTransient(err: unknown): boolean {
  const { code, status } = explain(err);
  return (code !== undefined && (NETWORK_CODES.has(code) || code === 'TimeoutError')) || (status ?? 0) >= 500;
}
