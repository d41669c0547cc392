/** Where a backup lives in S3: the bucket and a key prefix inside it ('' or ending in '/'). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

const USAGE = 'expected s3://bucket or s3://bucket/prefix';

/**
 * Parses `s3://bucket/optional/prefix`. The endpoint and credentials come from their own
 * settings: a URL is recorded as a backup's LOCATION_URL and must never carry a secret, so one
 * with user info is refused (and not echoed in the error).
 */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`invalid S3 storage URL: ${USAGE}`);
  const [, bucket = '', rest = ''] = m;
  if (bucket.includes('@'))
    throw new Error('invalid S3 storage URL: credentials do not belong in the URL; set them in the storage settings');
  // S3's bucket naming rules (Swift's s3api enforces them too with dns_compliant_bucket_names).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`invalid S3 bucket name "${bucket}": ${USAGE}`);
  const segments = rest.split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..')) throw new Error(`invalid S3 key prefix "${rest}": no . or .. segments`);
  return { bucket, prefix: segments.map((s) => `${s}/`).join('') };
}
