import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, test } from 'vitest';
import { FileStorage } from '../../src/storage/file-storage.ts';

const root = mkdtempSync(join(tmpdir(), 'rearguard-storage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const storage = new FileStorage(`file://${root}`);
const body = (s: string | Buffer) => Readable.from([Buffer.from(s)]);

function* failingChunks() {
  yield Buffer.alloc(1000, 1);
  throw new Error('connection reset by node');
}

describe('file:// storage', () => {
  test('put, head, get with a range, list by prefix, delete', async () => {
    await storage.put('overcloud/ctl0/bk_1/a.iso', body('0123456789'));
    await storage.put('overcloud/ctl0/bk_1/b.tar.gz', body('xyz'));
    await storage.put('overcloud/ctl1/bk_2/a.iso', body('other'));
    expect(await storage.head('overcloud/ctl0/bk_1/a.iso')).toEqual({ key: 'overcloud/ctl0/bk_1/a.iso', size: 10 });
    expect(await storage.head('overcloud/ctl0/bk_1/none')).toBeNull();
    expect(await text(await storage.get('overcloud/ctl0/bk_1/a.iso', { start: 2, end: 4 }))).toBe('234');
    expect((await storage.list('overcloud/ctl0/bk_1/')).map((o) => o.key)).toEqual([
      'overcloud/ctl0/bk_1/a.iso',
      'overcloud/ctl0/bk_1/b.tar.gz',
    ]);
    await storage.delete('overcloud/ctl0/bk_1/a.iso');
    await storage.delete('overcloud/ctl0/bk_1/b.tar.gz');
    expect(await storage.list('overcloud/ctl0/')).toEqual([]);
    expect(readdirSync(join(root, 'overcloud'))).toEqual(['ctl1']);
    expect(storage.locationOf('overcloud/ctl1/bk_2/')).toBe(`file://${root}/overcloud/ctl1/bk_2/`);
  });

  test('never overwrites an object', async () => {
    await storage.put('immutable/x', body('first'));
    await expect(storage.put('immutable/x', body('second'))).rejects.toThrow(/EEXIST/);
    expect(await text(await storage.get('immutable/x'))).toBe('first');
    expect(readdirSync(join(root, 'immutable'))).toEqual(['x']);
  });

  test('a failed or short stream leaves no object and no partial file', async () => {
    await expect(storage.put('broken/x', Readable.from(failingChunks()))).rejects.toThrow(/connection reset/);
    await expect(storage.put('broken/y', body('short'), { size: 100 })).rejects.toThrow(/expected 100 bytes, wrote 5/);
    expect(readdirSync(join(root, 'broken'))).toEqual([]);
  });

  test('keys cannot leave the root', async () => {
    for (const key of ['../escape', '/etc/passwd', 'a/../../escape']) {
      await expect(storage.put(key, body('x'))).rejects.toThrow(/invalid storage key/);
    }
  });

  test('a full disk fails the put with the reason and leaves nothing behind', async () => {
    const mnt = join(root, 'tiny');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      const tiny = new FileStorage(`file://${mnt}`);
      await expect(tiny.put('big', Readable.from([Buffer.alloc(4 << 20)]))).rejects.toThrow(/ENOSPC/);
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
