import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Storage, StoredObject } from '../core/ports.ts';
import { explain, isTransient, s3Error, S3StorageError } from './s3-errors.ts';
import { PartedUpload } from './s3-parted-upload.ts';
import { SizeGuard } from './size-guard.ts';
import { checkKey, checkPrefix } from './storage-key.ts';

export interface S3StorageOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'), as parseS3Url gives it. */
  prefix?: string;
  /** e.g. the Swift proxy's URL; AWS when unset. */
  endpoint?: string;
  region?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Bytes per multipart part (≥ 5 MiB). Memory per put is about (queueSize + 1) × partSize. */
  partSize?: number;
  /** Parts uploaded in parallel. */
  queueSize?: number;
  /** The store's limit of parts per upload: 1,000 on Swift's s3api (max_upload_part_num), 10,000 on AWS. */
  maxParts?: number;
  /** Path-style URLs (endpoint/bucket/key): what Swift's s3api and most non-AWS services need. */
  forcePathStyle?: boolean;
  /** Attempts per request for transient faults (socket errors, 5xx, throttling), with backoff. */
  maxAttempts?: number;
  /** How long a failed put keeps trying to remove what it left (the storage may be coming back). */
  cleanupWindowMs?: number;
}

const MiB = 1024 * 1024;
const MIN_PART_SIZE = 5 * MiB;

/**
 * S3 storage, made for OpenStack Swift's s3api (and fine with other S3 services). Puts stream as
 * multipart uploads with back-pressure: memory stays bounded whatever the object's size.
 */
export class S3Storage implements Storage {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly maxParts: number;
  private readonly cleanupWindowMs: number;

  constructor(opts: S3StorageOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? '';
    this.partSize = opts.partSize ?? 8 * MiB;
    this.queueSize = opts.queueSize ?? 4;
    this.maxParts = opts.maxParts ?? 1000;
    this.cleanupWindowMs = opts.cleanupWindowMs ?? 30_000;
    if (this.partSize < MIN_PART_SIZE) throw new Error(`S3 part size must be at least 5 MiB, got ${this.partSize} bytes`);
    if (this.prefix && !this.prefix.endsWith('/')) throw new Error(`S3 key prefix must end in '/': ${this.prefix}`);
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region ?? 'us-east-1',
      credentials: opts.credentials,
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      maxAttempts: opts.maxAttempts ?? 5,
      // Swift's s3api refuses the SDK's default flexible checksums ("aws-chunked is not supported").
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A dead peer must not hang a backup: bounded connect time and inactivity (not total time:
      // a large part or download may take long while bytes flow).
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });
  }

  locationOf(prefix: string): string {
    return `s3://${this.bucket}/${this.prefix}${prefix}`;
  }

  /**
   * Never overwrites: the key is checked first, and a multipart upload completes only if the key
   * is still free. A single-part put (smaller than partSize) has no such guard on Swift (no
   * conditional PutObject): keys must be unique per writer (they carry the backup id).
   * A failed put aborts its multipart upload and removes the object.
   */
  async put(key: string, body: Readable, opts: { size?: number; sizeHint?: number } = {}): Promise<StoredObject> {
    const where = this.locationOf(key);
    let target: string;
    try {
      target = this.keyOf(key);
      if ((await this.headKey(target, where)) !== null)
        throw new S3StorageError(`${where}: put refused: the object exists and is never overwritten`, 'EEXIST');
    } catch (err) {
      body.destroy();
      throw err;
    }

    const guard = new SizeGuard(opts.size);
    // Errors of the source reach the upload through the guard; a failed upload destroys both.
    pipeline(body, guard, () => undefined);
    const upload = new PartedUpload(this.client, {
      bucket: this.bucket,
      key: target,
      // A known size raises the part size so that the object fits in maxParts parts.
      partSize: Math.max(this.partSize, Math.ceil((opts.size ?? opts.sizeHint ?? 0) / this.maxParts)),
      queueSize: this.queueSize,
      maxParts: this.maxParts,
    });
    try {
      await upload.send(guard);
      const size = await this.headKey(target, where);
      if (size !== guard.bytes) throw new Error(`sent ${guard.bytes} bytes but storage holds ${size ?? 'nothing'}`);
      return { key, size };
    } catch (err) {
      guard.destroy();
      // 412: another writer created the key during our upload; that object is not ours to remove.
      const taken = explain(err).status === 412;
      const failure = taken
        ? new S3StorageError(
            `${where}: put refused: the object was written by another writer during the upload and is never overwritten`,
            'EEXIST',
            412,
          )
        : s3Error(where, 'put', err);
      const leftover = await this.removeFailedPut(target, upload.uploadId, !taken);
      if (leftover) failure.message += `; cleanup failed, ${leftover}`;
      throw failure;
    }
  }

  async get(key: string, range?: { start: number; end?: number }): Promise<Readable> {
    const where = this.locationOf(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keyOf(key),
          Range: range ? `bytes=${range.start}-${range.end ?? ''}` : undefined,
        }),
      );
      // In Node the body is an http.IncomingMessage, a Readable.
      return out.Body as Readable;
    } catch (err) {
      throw s3Error(where, 'get', err);
    }
  }

  async head(key: string): Promise<StoredObject | null> {
    const size = await this.headKey(this.keyOf(key), this.locationOf(key));
    return size === null ? null : { key, size };
  }

  async delete(key: string): Promise<void> {
    try {
      // On Swift, s3api also deletes the segments of a multipart object.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(key) }));
    } catch (err) {
      throw s3Error(this.locationOf(key), 'delete', err);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    try {
      for await (const page of paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: this.prefix + checkPrefix(prefix) },
      )) {
        for (const o of page.Contents ?? []) {
          if (o.Key) out.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 });
        }
      }
    } catch (err) {
      throw s3Error(this.locationOf(prefix), 'list', err);
    }
    return out;
  }

  /** Writes and deletes a probe object: proves the bucket exists and the credentials may write. */
  async checkWritable(): Promise<void> {
    const probe = `${this.prefix}.rearguard-write-check-${randomBytes(6).toString('hex')}`;
    const where = this.locationOf('');
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: probe, Body: new Uint8Array(0) }));
    } catch (err) {
      throw s3Error(where, 'write check', err);
    }
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: probe }));
    } catch (err) {
      throw s3Error(where, `write check (deleting its probe ${probe})`, err);
    }
  }

  private async headKey(target: string, where: string): Promise<number | null> {
    try {
      return await this.sizeOf(target);
    } catch (err) {
      throw s3Error(where, 'head', err);
    }
  }

  /** The object's size, null when there is none; SDK errors as they are. */
  private async sizeOf(target: string): Promise<number | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: target }));
      return out.ContentLength ?? 0;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  /**
   * Aborts the multipart upload and deletes the object if it got written (e.g. the answer to
   * the final request was lost), retrying transient faults within the cleanup window.
   * Returns what is left behind, if anything.
   */
  private async removeFailedPut(
    target: string,
    uploadId: string | undefined,
    deleteObject: boolean,
  ): Promise<string | undefined> {
    const steps: Array<[string, () => Promise<unknown>]> = [];
    if (uploadId) {
      const abort = new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId: uploadId });
      steps.push([
        `multipart upload ${uploadId} remains, abort it`,
        () => this.client.send(abort).catch(ignoreCode('NoSuchUpload')),
      ]);
    }
    if (deleteObject)
      steps.push([
        'the object may remain, delete it',
        async () => {
          if ((await this.sizeOf(target)) !== null)
            await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: target }));
        },
      ]);

    const deadline = Date.now() + this.cleanupWindowMs;
    for (const [leftover, step] of steps) {
      for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
        try {
          await step();
          break;
        } catch (err) {
          if (!isTransient(err) || Date.now() + delay > deadline)
            return `${leftover} when the storage is back (${explain(err).text})`;
          await sleep(delay);
        }
      }
    }
    return undefined;
  }

  /** Keys follow file:// rules, so that one key names the same object on every backend. */
  private keyOf(key: string): string {
    return this.prefix + checkKey(key);
  }
}

function ignoreCode(code: string) {
  return (err: unknown) => {
    if ((err as { name?: string }).name !== code) throw err;
  };
}
