import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { FileStorage } from '../../src/storage/file-storage.ts';
import { strayFiles } from './bodies.ts';
import { describeStorageContract } from './storage-contract.ts';

const root = mkdtempSync(join(tmpdir(), 'rearguard-storage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeStorageContract('file://', {
  async fresh() {
    const dir = mkdtempSync(join(root, 'contract-'));
    const storage = new FileStorage(`file://${dir}`);
    return { storage, leftovers: () => strayFiles(dir, storage) };
  },
});

describe('file:// storage', () => {
  test('a delete removes the directories its object leaves empty, up to the root', async () => {
    const dir = mkdtempSync(join(root, 'delete-'));
    const storage = new FileStorage(`file://${dir}`);
    await storage.put('overcloud/ctl0/bk_1/a.iso', Readable.from([Buffer.from('a')]));
    await storage.put('overcloud/ctl1/bk_2/a.iso', Readable.from([Buffer.from('b')]));
    await storage.delete('overcloud/ctl0/bk_1/a.iso');
    expect(readdirSync(join(dir, 'overcloud'))).toEqual(['ctl1']);
    await storage.delete('overcloud/ctl1/bk_2/a.iso');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('locationOf is the file URL of the prefix under the root', () => {
    const storage = new FileStorage(`file://${root}`);
    expect(storage.locationOf('overcloud/ctl1/bk_2/')).toBe(`file://${root}/overcloud/ctl1/bk_2/`);
    expect(new FileStorage('file://./backups').locationOf('bk/')).toBe(`file://${process.cwd()}/backups/bk/`);
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
