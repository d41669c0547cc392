import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseS3Url } from '../../src/storage/s3-url.ts';
import { S3Storage, type S3StorageOptions } from '../../src/storage/s3-storage.ts';
import { startSwift, swiftS3Client, type Swift } from '../harness/swift.ts';
import { generatedStream } from '../harness/byte-stream.ts';

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

/** What a failed put could leave in Swift: multipart uploads (s3api) and segments (native listing). */
async function leftovers(key: string): Promise<{ uploads: string[]; segments: string[]; object: boolean }> {
  const full = PREFIX + key;
  const mpu = await admin.send(new ListMultipartUploadsCommand({ Bucket: swift.bucketName, Prefix: full }));
  const res = await swift.swiftRequest('GET', `${swift.bucketName}+segments?prefix=${encodeURIComponent(full)}`);
  const segments = res.status === 200 ? (await res.text()).split('\n').filter(Boolean) : [];
  return { uploads: (mpu.Uploads ?? []).map((u) => u.UploadId!), segments, object: (await storage.head(key)) !== null };
}
const NOTHING = { uploads: [], segments: [], object: false };

describe('s3:// storage on OpenStack Swift (s3api)', () => {
  test('a stream larger than partSize goes up as a multipart upload and comes back identical', async () => {
    const size = 23 * MiB + 12345;
    const src = generated(size);
    const t0 = performance.now();
    expect(await storage.put('rt/big.iso', src.stream, { size })).toEqual({ key: 'rt/big.iso', size });
    const seconds = (performance.now() - t0) / 1000;
    console.log(`23 MiB in 5 MiB parts: ${(size / MiB / seconds).toFixed(0)} MB/s`);
    // Five parts of 5 MiB: Swift keeps them as the segments of an SLO.
    expect((await leftovers('rt/big.iso')).segments).toHaveLength(5);
    expect(await sha256Of(await storage.get('rt/big.iso'))).toBe(src.sha256());
    expect(await storage.head('rt/big.iso')).toEqual({ key: 'rt/big.iso', size });
  });

  test('a stream of unknown length, large and small', async () => {
    const large = generated(11 * MiB + 7, { seed: 1 });
    expect(await storage.put('unknown/large', large.stream)).toEqual({ key: 'unknown/large', size: 11 * MiB + 7 });
    expect(await sha256Of(await storage.get('unknown/large'))).toBe(large.sha256());
    await storage.put('unknown/small', Readable.from([Buffer.from('tiny')]));
    expect(await text(await storage.get('unknown/small'))).toBe('tiny');
    await storage.put('unknown/empty', Readable.from([]), { size: 0 });
    expect(await storage.head('unknown/empty')).toEqual({ key: 'unknown/empty', size: 0 });
  });

  test('a stream of unknown length fits the store\'s part limit when its size is hinted, and fails cleanly when not', async () => {
    // A store that takes 3 parts per upload: 16 MiB in 5 MiB parts needs 4.
    const limited = open({ maxParts: 3 });
    const src = generated(16 * MiB, { seed: 2 });
    await expect(limited.put('parts/unhinted', generated(16 * MiB, { seed: 2 }).stream)).rejects.toThrow(
      /parts\/unhinted: put failed: the object needs more than 3 parts of 5242880 bytes/,
    );
    expect(await leftovers('parts/unhinted')).toEqual(NOTHING);
    expect(await limited.put('parts/hinted', src.stream, { sizeHint: 16 * MiB + 100 })).toEqual({
      key: 'parts/hinted',
      size: 16 * MiB,
    });
    expect((await leftovers('parts/hinted')).segments).toHaveLength(3);
    expect(await sha256Of(await storage.get('parts/hinted'))).toBe(src.sha256());
  });

  test('ranged reads, also across a part boundary', async () => {
    const data = Buffer.alloc(6 * MiB);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32BE(i, i);
    await storage.put('range/obj', Readable.from([data]), { size: data.length });
    const read = async (range: { start: number; end?: number }) =>
      Buffer.concat(await (await storage.get('range/obj', range)).toArray());
    expect(await read({ start: 0, end: 3 })).toEqual(data.subarray(0, 4));
    expect(await read({ start: 5 * MiB - 10, end: 5 * MiB + 9 })).toEqual(data.subarray(5 * MiB - 10, 5 * MiB + 10));
    expect(await read({ start: 6 * MiB - 8 })).toEqual(data.subarray(6 * MiB - 8));
  });

  test('head, list by prefix, delete (segments included), locationOf', async () => {
    await storage.put('overcloud/ctl0/bk_1/a.iso', Readable.from([Buffer.from('0123456789')]));
    await storage.put('overcloud/ctl0/bk_1/b.tar.gz', generated(6 * MiB).stream, { size: 6 * MiB });
    await storage.put('overcloud/ctl1/bk_2/a.iso', Readable.from([Buffer.from('other')]));
    expect(await storage.head('overcloud/ctl0/bk_1/none')).toBeNull();
    expect(await storage.list('overcloud/ctl0/bk_1/')).toEqual([
      { key: 'overcloud/ctl0/bk_1/a.iso', size: 10 },
      { key: 'overcloud/ctl0/bk_1/b.tar.gz', size: 6 * MiB },
    ]);
    // The key prefix of the storage URL is where the objects really are.
    const native = await swift.swiftRequest('GET', `${swift.bucketName}?prefix=rg/overcloud/`);
    expect((await native.text()).split('\n').filter(Boolean)).toHaveLength(3);

    for (const o of await storage.list('overcloud/ctl0/')) await storage.delete(o.key);
    expect(await storage.list('overcloud/ctl0/')).toEqual([]);
    expect(await leftovers('overcloud/ctl0/')).toEqual(NOTHING);
    expect(await storage.list('overcloud/')).toEqual([{ key: 'overcloud/ctl1/bk_2/a.iso', size: 5 }]);
    await storage.delete('overcloud/ctl0/never-existed');
    expect(storage.locationOf('overcloud/ctl1/bk_2/')).toBe(`s3://${swift.bucketName}/rg/overcloud/ctl1/bk_2/`);
  });

  test('never overwrites an object, even when two uploads of one key race', async () => {
    await storage.put('immutable/x', Readable.from([Buffer.from('first')]));
    const again = Readable.from([Buffer.from('second')]);
    await expect(storage.put('immutable/x', again)).rejects.toThrow(
      /immutable\/x: put refused: the object exists and is never overwritten/,
    );
    expect(again.destroyed).toBe(true);
    expect(await text(await storage.get('immutable/x'))).toBe('first');

    // b checks the key and uploads most of its parts before a completes: only the completion's
    // If-None-Match stops it. (Swift checks it on the object server, so two completions in the
    // same instant could both pass: the guard closes the upload-long window, not that one.)
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = generated(12 * MiB, { seed: 100 });
    const b = generated(12 * MiB, { seed: 200, gate: { at: 11 * MiB, open: gate } });
    const second = storage.put('immutable/race', b.stream);
    second.catch(() => undefined);
    while (b.sent() < 11 * MiB) await new Promise((r) => setTimeout(r, 20));
    await storage.put('immutable/race', a.stream);
    release();
    await expect(second).rejects.toThrow(
      /immutable\/race: put refused: the object was written by another writer during the upload/,
    );
    expect(await sha256Of(await storage.get('immutable/race'))).toBe(a.sha256());
    expect((await leftovers('immutable/race')).uploads).toEqual([]);
  });

  test('keys are relative, as on file://', async () => {
    for (const key of ['../escape', '/abs', 'a/../../escape', '']) {
      const body = Readable.from([Buffer.from('x')]);
      await expect(storage.put(key, body)).rejects.toThrow(/invalid storage key/);
      expect(body.destroyed).toBe(true);
    }
  });

  test('checkWritable passes on a good bucket and gives the reason otherwise', async () => {
    await storage.checkWritable();
    expect(await storage.list('.rearguard-write-check')).toEqual([]);

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

  test('a size mismatch or a failing source leaves nothing behind', async () => {
    await expect(storage.put('broken/short', Readable.from([Buffer.from('short')]), { size: 100 })).rejects.toThrow(
      /broken\/short: put failed: expected 100 bytes, the stream had only 5/,
    );
    // Longer than announced: fails as soon as the extra bytes arrive, parts already uploaded.
    await expect(storage.put('broken/long', generated(12 * MiB).stream, { size: 11 * MiB })).rejects.toThrow(
      /broken\/long: put failed: expected 11534336 bytes, the stream had more/,
    );
    async function* failing() {
      yield* generated(11 * MiB).stream;
      throw new Error('connection reset by node');
    }
    await expect(storage.put('broken/source', Readable.from(failing()))).rejects.toThrow(
      /broken\/source: put failed: connection reset by node/,
    );
    expect(await leftovers('broken/')).toEqual(NOTHING);
  });

  test('the proxy dying mid-upload fails the put with the reason; nothing is left once it is back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const src = generated(40 * MiB, { gate: { at: 16 * MiB, open: gate } });
    const put = storage.put('fault/x', src.stream, { size: 40 * MiB });
    put.catch(() => undefined);
    // Parts are in flight when the proxy goes.
    while (src.sent() < 16 * MiB) await new Promise((r) => setTimeout(r, 20));
    expect((await leftovers('fault/x')).uploads).toHaveLength(1);
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
    expect(await leftovers('fault/x')).toEqual(NOTHING);
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
