import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * A deterministic stream of `size` bytes in chunks the size an ssh channel delivers, numbered so
 * that no two chunks are alike, with its sha256. A gate can hold the stream at a byte offset
 * (to kill a server mid-upload, say).
 */
export function generatedStream(
  size: number,
  opts: { chunkSize?: number; seed?: number; gate?: { at: number; open: Promise<void> } } = {},
) {
  const hash = createHash('sha256');
  const base = randomBytes(opts.chunkSize ?? 64 * 1024);
  let sent = 0;
  async function* chunks() {
    let n = opts.seed ?? 0;
    while (sent < size) {
      if (opts.gate && sent >= opts.gate.at) await opts.gate.open;
      const chunk = Buffer.from(base.subarray(0, Math.min(base.length, size - sent)));
      chunk.writeUInt32BE(n++ >>> 0, 0);
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
  }
  return { stream: Readable.from(chunks()), sha256: () => hash.digest('hex'), sent: () => sent };
}
