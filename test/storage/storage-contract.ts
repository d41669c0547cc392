import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Storage } from '../../src/core/ports.ts';
import { bodyOf, bytesOf } from './bodies.ts';

/**
 * What every Storage backend promises, as one suite run against each of them (restic's
 * internal/backend/test is the model): a backend file calls describeStorageContract with a factory
 * of fresh, empty storages, and keeps only the tests of what is its own (its URL, its faults).
 */

export interface StorageUnderTest {
  storage: Storage;
  /**
   * What the backend holds besides its objects: temporary files, unfinished multipart uploads,
   * parts no object uses. The suite requires none after a failed put.
   */
  leftovers(): Promise<string[]>;
  close?(): void | Promise<void>;
}

export interface StorageContractSetup {
  /** A new, empty storage; called before each test, so that no test sees another's objects. */
  fresh(): Promise<StorageUnderTest>;
  /** Bytes per upload part, where the backend uploads in parts: the suite's large object spans two. */
  partSize?: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const INVALID_KEYS = ['', '/abs', '../up', 'a/../../up', 'a/..', './a', 'a/./b', 'a//b', 'a/', '.partial-x', 'a/.partial-x'];

export function describeStorageContract(name: string, setup: StorageContractSetup): void {
  // Without parts, 1 MiB still spans many SFTP requests (32 KiB reads, 252 KiB writes).
  const boundary = setup.partSize ?? MiB;
  // Where held and failing bodies stop: past the first part, before the end.
  const pastPart = boundary + 64 * KiB;
  const large = randomBytes(boundary + 128 * KiB + 7);
  const small = randomBytes(3 * KiB);

  describe(`${name}: the storage contract`, () => {
    let under: StorageUnderTest;
    let storage: Storage;
    beforeEach(async () => {
      under = await setup.fresh();
      storage = under.storage;
    });
    afterEach(() => under?.close?.());

    /** The key holds nothing, the listing does not show it, and no temporary or part of it remains. */
    async function expectNothingAt(key: string): Promise<void> {
      expect(await storage.head(key)).toBeNull();
      expect(await storage.list(key)).toEqual([]);
      expect(await under.leftovers()).toEqual([]);
    }

    async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
      for (const deadline = Date.now() + 10_000; !(await cond()); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      }
    }

    test('a put stores the body byte for byte: put and head report its exact size, get returns it', async () => {
      expect(await storage.put('bk/small', bodyOf(small).stream, { size: small.length })).toEqual({
        key: 'bk/small',
        size: small.length,
      });
      expect(await storage.head('bk/small')).toEqual({ key: 'bk/small', size: small.length });
      expect((await bytesOf(await storage.get('bk/small'))).equals(small)).toBe(true);

      expect(await storage.put('bk/empty', bodyOf(Buffer.alloc(0)).stream, { size: 0 })).toEqual({ key: 'bk/empty', size: 0 });
      expect(await storage.head('bk/empty')).toEqual({ key: 'bk/empty', size: 0 });
      expect(await bytesOf(await storage.get('bk/empty'))).toHaveLength(0);
    });

    test('an object larger than a part is stored whole, whether its size is declared, hinted or unknown', async () => {
      const sizes = { declared: { size: large.length }, hinted: { sizeHint: large.length + 100 }, unknown: {} };
      for (const [key, opts] of Object.entries(sizes)) {
        expect(await storage.put(key, bodyOf(large).stream, opts)).toEqual({ key, size: large.length });
        expect(await storage.head(key)).toEqual({ key, size: large.length });
        expect((await bytesOf(await storage.get(key))).equals(large)).toBe(true);
      }
      expect(await under.leftovers()).toEqual([]);
    });

    test('a range reads the bytes it names, both ends inclusive; without an end, or past the end, it reads to the end', async () => {
      await storage.put('obj', bodyOf(large).stream, { size: large.length });
      const read = async (range: { start: number; end?: number }) => bytesOf(await storage.get('obj', range));
      const cases: Array<[{ start: number; end?: number }, Buffer]> = [
        [{ start: 0, end: 0 }, large.subarray(0, 1)],
        [{ start: 100, end: 199 }, large.subarray(100, 200)],
        [{ start: boundary - 10, end: boundary + 9 }, large.subarray(boundary - 10, boundary + 10)],
        [{ start: large.length - 10 }, large.subarray(large.length - 10)],
        [{ start: large.length - 10, end: large.length + 100 }, large.subarray(large.length - 10)],
        [{ start: 0 }, large],
      ];
      for (const [range, expected] of cases) expect((await read(range)).equals(expected), JSON.stringify(range)).toBe(true);
    });

    test('head of a missing key is null, also where the key is the directory of objects or lies under an object', async () => {
      await storage.put('dir/obj', bodyOf(small).stream);
      expect(await storage.head('missing')).toBeNull();
      expect(await storage.head('dir/missing')).toBeNull();
      expect(await storage.head('dir')).toBeNull();
      expect(await storage.head('dir/obj/under')).toBeNull();
    });

    test('get of a missing key fails and names the key', async () => {
      await expect(storage.get('dir/missing')).rejects.toThrow('dir/missing');
    });

    test('a put never overwrites: a second put of a key is refused with EEXIST, its body released, the first object intact', async () => {
      await storage.put('immutable', bodyOf(small).stream);
      const again = bodyOf(large).stream;
      await expect(storage.put('immutable', again)).rejects.toMatchObject({
        code: 'EEXIST',
        message: expect.stringMatching(/immutable: put refused: the object exists and is never overwritten/),
      });
      expect(again.destroyed).toBe(true);
      expect((await bytesOf(await storage.get('immutable'))).equals(small)).toBe(true);
    });

    test('of two puts of one key that overlap, the first to complete wins and the other is refused, leaving nothing of its own', async () => {
      // The slow put passes the up-front check and holds after its first part: only the backend's
      // create-only completion (link, SFTP RENAME, If-None-Match) can refuse it. (A put smaller
      // than a part has no such guard on Swift, which has no conditional PutObject.)
      const slow = bodyOf(randomBytes(large.length), { holdAt: pastPart });
      const first = storage.put('race', slow.stream);
      first.catch(() => undefined);
      await until(async () => slow.sent() >= pastPart && (await under.leftovers()).length > 0, 'the held upload');
      await storage.put('race', bodyOf(large).stream);
      slow.release();
      await expect(first).rejects.toMatchObject({ code: 'EEXIST', message: expect.stringMatching(/never overwritten/) });
      expect((await bytesOf(await storage.get('race'))).equals(large)).toBe(true);
      expect(await under.leftovers()).toEqual([]);
    });

    test('an object appears only once complete: a put in progress shows in neither head nor list', async () => {
      const held = bodyOf(large, { holdAt: pastPart });
      const put = storage.put('bk/in-progress', held.stream, { size: large.length });
      put.catch(() => undefined);
      // Something of the put is stored by now (a temporary file, an upload with a part).
      await until(async () => (await under.leftovers()).length > 0, 'the upload in progress');
      expect(await storage.head('bk/in-progress')).toBeNull();
      expect(await storage.list('')).toEqual([]);
      held.release();
      expect(await put).toEqual({ key: 'bk/in-progress', size: large.length });
      expect(await storage.list('')).toEqual([{ key: 'bk/in-progress', size: large.length }]);
      expect(await under.leftovers()).toEqual([]);
    });

    test('a body that fails half-way fails the put with its reason and leaves nothing, also after a part went up', async () => {
      for (const [key, failAt] of [
        ['bk/early', 1000],
        ['bk/late', pastPart],
      ] as const) {
        await expect(storage.put(key, bodyOf(large, { failAt }).stream, { size: large.length })).rejects.toThrow(
          /connection reset by node/,
        );
        await expectNothingAt(key);
      }
    });

    test('a body shorter than its declared size fails the put and leaves nothing', async () => {
      await expect(storage.put('bk/short', bodyOf(small).stream, { size: small.length + 1 })).rejects.toThrow(
        `expected ${small.length + 1} bytes`,
      );
      await expectNothingAt('bk/short');
      await expect(storage.put('bk/short-large', bodyOf(large).stream, { size: large.length + 1 })).rejects.toThrow(
        `expected ${large.length + 1} bytes`,
      );
      await expectNothingAt('bk/short-large');
    });

    test('a body longer than its declared size fails the put and leaves nothing', async () => {
      await expect(storage.put('bk/long', bodyOf(small).stream, { size: small.length - 1 })).rejects.toThrow(
        `expected ${small.length - 1} bytes`,
      );
      await expectNothingAt('bk/long');
      // Declared just past one part: the extra bytes arrive after that part went up.
      await expect(storage.put('bk/long-large', bodyOf(large).stream, { size: boundary + 1 })).rejects.toThrow(
        `expected ${boundary + 1} bytes`,
      );
      await expectNothingAt('bk/long-large');
    });

    test('a key that is not a relative path of plain names is refused by every operation', async () => {
      const refusal = { code: 'EINVAL', message: expect.stringMatching(/invalid storage key/) };
      for (const key of INVALID_KEYS) {
        const body = bodyOf(small).stream;
        await expect(storage.put(key, body), `put ${key}`).rejects.toMatchObject(refusal);
        expect(body.destroyed).toBe(true);
        await expect(storage.get(key), `get ${key}`).rejects.toMatchObject(refusal);
        await expect(storage.head(key), `head ${key}`).rejects.toMatchObject(refusal);
        await expect(storage.delete(key), `delete ${key}`).rejects.toMatchObject(refusal);
      }
      for (const prefix of ['../', '/', 'a/../', 'a//']) {
        await expect(storage.list(prefix), `list ${prefix}`).rejects.toMatchObject({
          code: 'EINVAL',
          message: expect.stringMatching(/invalid storage prefix/),
        });
      }
      expect(await storage.list('')).toEqual([]);
      expect(await under.leftovers()).toEqual([]);
    });

    test('delete of a missing key succeeds; a deleted object is gone from head, get and list, its parts included', async () => {
      await storage.put('bk/small', bodyOf(small).stream);
      await storage.put('bk/large', bodyOf(large).stream, { size: large.length });
      for (const key of ['bk/small', 'bk/large']) {
        await storage.delete(key);
        await storage.delete(key);
        await expect(storage.get(key)).rejects.toThrow(key);
        await expectNothingAt(key);
      }
      await storage.delete('never/existed');
    });

    test('list by prefix returns exactly the objects whose keys start with it, with their sizes, in key order', async () => {
      // 'a/B' before 'a/a': byte order, as S3 lists, not a locale's.
      const keys = ['a/1', 'a/22', 'a/B', 'a/a', 'a/b/333', 'ab/4444', 'b/55555'];
      // Put out of order: the listing sorts.
      for (const key of [...keys].reverse()) await storage.put(key, bodyOf(Buffer.alloc(key.length)).stream);
      const listed = async (prefix: string) => (await storage.list(prefix)).map((o) => `${o.key}:${o.size}`);
      expect(await listed('a/')).toEqual(['a/1:3', 'a/22:4', 'a/B:3', 'a/a:3', 'a/b/333:7']);
      expect(await listed('a')).toEqual(['a/1:3', 'a/22:4', 'a/B:3', 'a/a:3', 'a/b/333:7', 'ab/4444:7']);
      expect(await listed('a/b')).toEqual(['a/b/333:7']);
      expect(await listed('a/22')).toEqual(['a/22:4']);
      expect(await listed('none/')).toEqual([]);
      expect(await listed('a/1/')).toEqual([]);
      expect(await listed('')).toEqual(['a/1:3', 'a/22:4', 'a/B:3', 'a/a:3', 'a/b/333:7', 'ab/4444:7', 'b/55555:7']);
    });

    test('checkWritable succeeds on a writable storage and leaves nothing behind', async () => {
      await storage.checkWritable();
      expect(await storage.list('')).toEqual([]);
      expect(await under.leftovers()).toEqual([]);
    });
  });
}
