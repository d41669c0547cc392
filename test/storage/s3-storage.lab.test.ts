import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseS3Url } from '../../src/storage/s3-url.ts';
import { S3Storage, type S3StorageOptions } from '../../src/storage/s3-storage.ts';
import { startSwift, swiftS3Client, type Swift } from '../harness/swift.ts';
import { generatedStream } from '../harness/byte-stream.ts';
import { describeStorageContract } from './storage-contract.ts';

const MiB = 1024 * 1024;
const PREFIX = 'rg/';

let swift: Swift;
let storage: S3Storage;
let admin: S3Client;

const open = (over: Partial<S3StorageOptions> = {}) =>
  new S3Storage({
    bucket: swift.bucketName,
    prefix: PREFIX,
    endpoint: swift.endpoint,
    credentials: swift.s3,
    partSize: 5 * MiB,
    ...over,
  });

beforeAll(async () => {
  const t0 = Date.now();
  swift = await startSwift();
  console.log(`swift all-in-one ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  storage = open();
  admin = swiftS3Client(swift);
});
afterAll(async () => {
  admin?.destroy();
  await swift?.stop();
});

const generated = generatedStream;

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Native Swift listing of a container under a prefix. */
async function names(container: string, prefix: string): Promise<string[]> {
  const res = await swift.swiftRequest('GET', `${container}?prefix=${encodeURIComponent(prefix)}`);
  return res.status === 200 ? (await res.text()).split('\n').filter(Boolean) : [];
}

/** The segments Swift keeps for the parts of a multipart object. */
const segmentsOf = (key: string) => names(`${swift.bucketName}+segments`, `${PREFIX}${key}/`);

/**
 * What a failed put could leave under a storage key prefix: multipart uploads (s3api), and
 * segments that no object's manifest names (they would cost space that no listing shows).
 */
async function leftovers(prefix: string): Promise<string[]> {
  const full = PREFIX + prefix;
  const mpu = await admin.send(new ListMultipartUploadsCommand({ Bucket: swift.bucketName, Prefix: full }));
  const used = new Set<string>();
  for (const name of await names(swift.bucketName, full)) {
    const res = await swift.swiftRequest('GET', `${swift.bucketName}/${encodeURI(name)}?multipart-manifest=get`);
    if (res.headers.get('x-static-large-object') !== 'True') await res.arrayBuffer();
    else for (const s of (await res.json()) as Array<{ name: string }>) used.add(decodeURIComponent(s.name));
  }
  const segments = (await names(`${swift.bucketName}+segments`, full)).filter(
    (s) => !used.has(`/${swift.bucketName}+segments/${s}`),
  );
  return [...(mpu.Uploads ?? []).map((u) => `upload ${u.Key} ${u.UploadId}`), ...segments.map((s) => `segment ${s}`)];
}

let fresh = 0;
describeStorageContract('s3:// on Swift', {
  partSize: 5 * MiB,
  async fresh() {
    const prefix = `contract-${++fresh}/`;
    return { storage: open({ prefix: PREFIX + prefix }), leftovers: () => leftovers(prefix) };
  },
});

describe('s3:// storage on OpenStack Swift (s3api)', () => {
  test('an object larger than a part goes up as a multipart upload: Swift keeps one segment per part', async () => {
    const size = 11 * MiB + 7;
    expect(await storage.put('mpu/big.iso', generated(size).stream, { size })).toEqual({ key: 'mpu/big.iso', size });
    expect(await segmentsOf('mpu/big.iso')).toHaveLength(3);
  });

  test("a stream of unknown length fits the store's part limit when its size is hinted, and fails cleanly when not", async () => {
    // A store that takes 3 parts per upload: 16 MiB in 5 MiB parts needs 4.
    const limited = open({ maxParts: 3 });
    const src = generated(16 * MiB, { seed: 2 });
    await expect(limited.put('parts/unhinted', generated(16 * MiB, { seed: 2 }).stream)).rejects.toThrow(
      /parts\/unhinted: put failed: the object needs more than 3 parts of 5242880 bytes/,
    );
    expect(await leftovers('parts/unhinted')).toEqual([]);
    expect(await limited.put('parts/hinted', src.stream, { sizeHint: 16 * MiB + 100 })).toEqual({
      key: 'parts/hinted',
      size: 16 * MiB,
    });
    expect(await segmentsOf('parts/hinted')).toHaveLength(3);
    expect(await sha256Of(await storage.get('parts/hinted'))).toBe(src.sha256());
  });

  test('objects are stored under the key prefix of the storage URL, which locationOf names', async () => {
    await storage.put('overcloud/ctl1/bk_2/a.iso', Readable.from([Buffer.from('other')]));
    expect(await names(swift.bucketName, 'rg/overcloud/')).toEqual(['rg/overcloud/ctl1/bk_2/a.iso']);
    expect(storage.locationOf('overcloud/ctl1/bk_2/')).toBe(`s3://${swift.bucketName}/rg/overcloud/ctl1/bk_2/`);
  });

  test('checkWritable gives the reason a bucket cannot be written', async () => {
    const secret = swift.s3.secretAccessKey;
    const cases: Array<[Partial<S3StorageOptions>, RegExp]> = [
      [
        { bucket: 'no-such-bucket' },
        /^s3:\/\/no-such-bucket\/rg\/: write check failed: the bucket does not exist \(NoSuchBucket: /,
      ],
      [
        { credentials: { accessKeyId: swift.s3.accessKeyId, secretAccessKey: 'wrong' } },
        /: write check failed: credentials refused \(SignatureDoesNotMatch: /,
      ],
      [
        { credentials: { accessKeyId: 'test:nobody', secretAccessKey: secret } },
        /: write check failed: credentials refused \(SignatureDoesNotMatch: /,
      ],
      [{ credentials: swift.noRole }, /: write check failed: access denied \(AccessDenied: Access Denied/],
      [
        { endpoint: 'http://127.0.0.1:1', maxAttempts: 2 },
        /: write check failed: storage endpoint unreachable \(ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:1\)/,
      ],
    ];
    for (const [over, reason] of cases) {
      const t0 = performance.now();
      const err = (await open(over)
        .checkWritable()
        .catch((e: unknown) => e)) as Error;
      console.log(`${err.message} [${Math.round(performance.now() - t0)} ms]`);
      expect(err.message).toMatch(reason);
      expect(err.message).not.toContain(secret);
    }
  });

  test('the proxy dying mid-upload fails the put with the reason; nothing is left once it is back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const src = generated(40 * MiB, { gate: { at: 16 * MiB, open: gate } });
    const put = storage.put('fault/x', src.stream, { size: 40 * MiB });
    put.catch(() => undefined);
    // Parts are in flight when the proxy goes.
    while (src.sent() < 16 * MiB) await new Promise((r) => setTimeout(r, 20));
    expect(await leftovers('fault/x')).toContainEqual(expect.stringMatching(/^upload /));
    await swift.stopProxy();
    release();
    // The put gave up on the upload (it destroys the source) and now tries to clean up.
    await new Promise((r) => src.stream.once('close', r));
    await swift.startProxy();
    const err = (await put.catch((e: unknown) => e)) as Error;
    console.log(err.message);
    expect(err.message).toMatch(
      /^s3:\/\/rearguard-test\/rg\/fault\/x: put failed: storage endpoint unreachable \((ECONNREFUSED|ECONNRESET|EPIPE): /,
    );
    expect(err.message).not.toMatch(/cleanup failed/);
    expect(await leftovers('fault/x')).toEqual([]);
  });

  test('memory stays flat while a 200 MiB stream goes up', async () => {
    const big = open({ partSize: 8 * MiB });
    const size = 200 * MiB;
    const start = process.memoryUsage().rss;
    let peak = start;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    try {
      await big.put('mem/200m', generated(size).stream, { size });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - t0) / 1000;
    const growth = (peak - start) / MiB;
    console.log(
      `200 MiB upload (8 MiB parts x 4): ${(size / MiB / seconds).toFixed(0)} MB/s; ` +
        `rss start ${(start / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB (+${growth.toFixed(0)} MiB)`,
    );
    // Bounded by about (queueSize + 1) x partSize twice over (parts are concatenated), not by the size.
    expect(growth).toBeLessThan(96);
    await big.delete('mem/200m');
  });
});

describe('s3:// URLs', () => {
  test('bucket and key prefix', () => {
    expect(parseS3Url('s3://backups')).toEqual({ bucket: 'backups', prefix: '' });
    expect(parseS3Url('s3://backups/')).toEqual({ bucket: 'backups', prefix: '' });
    expect(parseS3Url('s3://backups/site-a/uc')).toEqual({ bucket: 'backups', prefix: 'site-a/uc/' });
    expect(parseS3Url('s3://backups/site-a/')).toEqual({ bucket: 'backups', prefix: 'site-a/' });
  });

  test('refuses bad URLs without echoing secrets', () => {
    expect(() => parseS3Url('s3://AKIA:hunter2@backups/x')).toThrow(/credentials do not belong in the URL/);
    expect(() => parseS3Url('s3://AKIA:hunter2@backups/x')).not.toThrow(/hunter2/);
    expect(() => parseS3Url('file:///srv')).toThrow(/expected s3:\/\/bucket/);
    expect(() => parseS3Url('s3://Bad_Bucket')).toThrow(/invalid S3 bucket name/);
    expect(() => parseS3Url('s3://backups/a/../b')).toThrow(/no \. or \.\. segments/);
  });
});
