import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { InventorySource } from '../../src/ansible/inventory-source.ts';
import type { Inventory } from '../../src/ansible/inventory.ts';

const inventory: Inventory = {
  hosts: [
    { name: 'ctl0', address: '10.0.0.10', groups: ['Controller'] } as Inventory['hosts'][number],
    { name: 'uc', address: '10.0.0.2', groups: ['Undercloud'] } as Inventory['hosts'][number],
  ],
  groups: { Controller: ['ctl0'], Undercloud: ['uc'] },
};

/** A reader that answers when told to, counting its calls. */
function gatedReader() {
  const calls: string[] = [];
  let open: Array<(inv: Inventory) => void> = [];
  let fail: Array<(err: Error) => void> = [];
  return {
    calls,
    read: (file: string) =>
      new Promise<Inventory>((resolve, reject) => {
        calls.push(file);
        open.push(resolve);
        fail.push(reject);
      }),
    answer(inv: Inventory) {
      for (const r of open) r(inv);
      open = [];
      fail = [];
    },
    failWith(err: Error) {
      for (const r of fail) r(err);
      open = [];
      fail = [];
    },
  };
}

describe('InventorySource', () => {
  test('callers during one read share it: a burst reads the inventory once', async () => {
    const reader = gatedReader();
    const source = new InventorySource('/etc/rearguard/inventory.ini', { read: reader.read });
    const asks = Array.from({ length: 50 }, (_, i) => source.hostsOf(i % 2 ? 'Controller' : 'Undercloud'));
    reader.answer(inventory);
    const answers = await Promise.all(asks);
    expect(reader.calls).toEqual(['/etc/rearguard/inventory.ini']);
    expect(answers[0]!.map((h) => h.name)).toEqual(['uc']);
    expect(answers[1]!.map((h) => h.name)).toEqual(['ctl0']);
    // The burst is over: the next caller reads afresh, and a group it does not have is empty.
    const later = source.hostsOf('Nowhere');
    reader.answer(inventory);
    expect(await later).toEqual([]);
    expect(reader.calls).toHaveLength(2);
  });

  test('the next caller after a read reads afresh, also after a failed read', async () => {
    const reader = gatedReader();
    const source = new InventorySource('inv.yml', { read: reader.read });
    const first = source.hostsOf('Undercloud');
    reader.failWith(new Error('ansible-inventory: no such file'));
    await expect(first).rejects.toThrow('no such file');
    const second = source.hostsOf('Undercloud');
    reader.answer(inventory);
    expect((await second).map((h) => h.name)).toEqual(['uc']);
    expect(reader.calls).toHaveLength(2);
  });

  describe('with a cache', () => {
    const setup = () => {
      const dir = mkdtempSync(join(tmpdir(), 'rg-inv-'));
      const file = join(dir, 'inventory.yml');
      writeFileSync(file, 'all: {}\n');
      let now = 1_000;
      const reader = { calls: [] as string[], read: async (f: string) => (reader.calls.push(f), inventory) };
      const source = new InventorySource(file, { read: reader.read, cacheMs: 10_000, now: () => now });
      const ask = () => source.hostsOf('Undercloud');
      return { dir, file, reader, ask, advance: (ms: number) => void (now += ms), done: () => rmSync(dir, { recursive: true }) };
    };

    test('an answer is reused while the file is unchanged and the cache is fresh', async () => {
      const t = setup();
      await t.ask();
      t.advance(9_000);
      expect((await t.ask()).map((h) => h.name)).toEqual(['uc']);
      expect(t.reader.calls).toHaveLength(1);
      t.advance(1_000);
      await t.ask();
      expect(t.reader.calls).toHaveLength(2);
      t.done();
    });

    test('an edit of the file is read at once', async () => {
      const t = setup();
      await t.ask();
      writeFileSync(t.file, 'all: { hosts: { uc: {} } }\n');
      await t.ask();
      expect(t.reader.calls).toHaveLength(2);
      t.done();
    });

    test('a failed read is not kept: the next caller reads again', async () => {
      const t = setup();
      let reads = 0;
      const failing = new InventorySource(t.file, {
        read: async () => {
          reads++;
          throw new Error('ansible-inventory: parse error');
        },
        cacheMs: 10_000,
      });
      await expect(failing.hostsOf('Undercloud')).rejects.toThrow('parse error');
      await expect(failing.hostsOf('Undercloud')).rejects.toThrow('parse error');
      expect(reads).toBe(2);
      t.done();
    });
  });
});
