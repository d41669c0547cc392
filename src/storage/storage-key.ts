/**
 * The one rule for storage keys on every backend: a key is a relative path of names joined by
 * '/', so that one key names the same object on file://, sftp:// and s3:// and none reaches outside
 * the storage root. A leading '/', an empty, '.' or '..' segment is refused: a file system would
 * resolve it to another path (or alias another key) while S3 would store it as written. Names
 * starting with PARTIAL_PREFIX are the backends' temporary files, which listings hide.
 */
export const PARTIAL_PREFIX = '.partial-';

export class InvalidKeyError extends Error {
  readonly code = 'EINVAL';

  constructor(what: 'key' | 'prefix', value: string, why: string) {
    super(`invalid storage ${what} "${value}": ${why}`);
    this.name = 'InvalidKeyError';
  }
}

/** The key, if it is valid. */
export function checkKey(key: string): string {
  const why = problem(key, key.split('/'));
  if (why) throw new InvalidKeyError('key', key, why);
  return key;
}

/** A list prefix: '' (everything), or whole valid names followed by the start of a name (maybe empty, after a '/'). */
export function checkPrefix(prefix: string): string {
  const whole = prefix.split('/').slice(0, -1);
  const why = whole.length > 0 && problem(prefix, whole);
  if (why) throw new InvalidKeyError('prefix', prefix, why);
  return prefix;
}

function problem(value: string, segments: string[]): string | undefined {
  if (value.startsWith('/')) return 'keys are relative to the storage root';
  if (segments.includes('')) return 'empty name';
  if (segments.some((s) => s === '.' || s === '..')) return 'no . or .. names';
  if (segments.some((s) => s.startsWith(PARTIAL_PREFIX))) return `names starting with ${PARTIAL_PREFIX} are reserved`;
  return undefined;
}

/** Listings are in key order by code unit: the order S3 lists in (UTF-8 byte order, for keys without surrogate pairs). */
export function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
