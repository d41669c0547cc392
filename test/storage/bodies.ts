import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import type { Storage } from '../../src/core/ports.ts';

/** Chunks the size an ssh channel delivers: what a transfer hands to storage. */
const CHUNK = 32 * 1024;

/**
 * A body that streams `data` in ssh-sized chunks. `failAt` makes it fail there, as a dropped node
 * connection does; `holdAt` holds it there until `release()`, so that a test can look at storage
 * while the put is in progress.
 */
export function bodyOf(data: Buffer, opts: { failAt?: number; holdAt?: number } = {}) {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let sent = 0;
  async function* chunks() {
    while (sent < data.length) {
      if (opts.holdAt !== undefined && sent >= opts.holdAt) await held;
      if (opts.failAt !== undefined && sent >= opts.failAt) throw new Error('connection reset by node');
      const end = Math.min(sent + CHUNK, data.length, opts.failAt ?? Infinity);
      yield data.subarray(sent, end);
      sent = end;
    }
  }
  return { stream: Readable.from(chunks()), sent: () => sent, release };
}

export async function bytesOf(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await stream.toArray());
}

/** Files under a storage root that are not objects (temporaries, half-written files): for the file-system backends. */
export async function strayFiles(root: string, storage: Storage): Promise<string[]> {
  const objects = new Set((await storage.list('')).map((o) => o.key));
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .filter((key) => !objects.has(key));
}
