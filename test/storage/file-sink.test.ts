import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, test } from 'vitest';
import { FileSink } from '../../src/storage/file-sink.ts';

const dir = mkdtempSync(join(tmpdir(), 'rearguard-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const openFds = () => readdirSync('/proc/self/fd').length;

describe('FileSink', () => {
  test('writes chunks of every size byte for byte, across batches and background syncs', async () => {
    // Odd sizes around the batch size, so that batches end mid-chunk as often as on a boundary.
    const chunks = [1, 7, 32 * 1024, 65_537, 1, 3 * 1024 * 1024 + 5, 12, 900_000, 40_000].map((n) => randomBytes(n));
    const file = join(dir, 'mixed');
    await pipeline(Readable.from(chunks), new FileSink(file, { batchBytes: 100_000, syncEveryBytes: 300_000 }));
    expect(sha(readFileSync(file))).toBe(sha(Buffer.concat(chunks)));
  });

  test('an empty stream makes an empty file', async () => {
    const file = join(dir, 'empty');
    await pipeline(Readable.from([]), new FileSink(file));
    expect(readFileSync(file).length).toBe(0);
  });

  test('never opens a file that exists', async () => {
    const file = join(dir, 'taken');
    writeFileSync(file, 'first');
    await expect(pipeline(Readable.from([Buffer.from('second')]), new FileSink(file))).rejects.toThrow(/EEXIST/);
    expect(readFileSync(file, 'utf8')).toBe('first');
  });

  test('a source that fails mid-stream leaves no descriptor open', async () => {
    const before = openFds();
    async function* failing() {
      yield randomBytes(2 * 1024 * 1024);
      throw new Error('connection reset by node');
    }
    await expect(pipeline(Readable.from(failing()), new FileSink(join(dir, 'broken')))).rejects.toThrow(/reset/);
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBe(before);
  });
});
