import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Artefact } from './model.ts';
import type { NodeSession, Storage } from './ports.ts';

/** Counts and hashes the bytes that flow through it, without holding them. */
export class HashingCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export class VerificationError extends Error {}

/**
 * Streams one artefact node -> storage, hashing on the way, and proves that what storage got
 * is what the node made (size and sha256 from the node's own manifest).
 */
export async function transferArtefact(
  session: NodeSession,
  storage: Storage,
  source: { path: string } & Artefact,
  key: string,
  signal?: AbortSignal,
): Promise<Artefact> {
  const input = await session.readFile(source.path);
  const counter = new HashingCounter();
  const onAbort = () => input.destroy(new Error('transfer aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    input.on('error', (err) => counter.destroy(err));
    const stored = await storage.put(key, input.pipe(counter), { size: source.size });
    const sha256 = counter.digest();
    if (counter.bytes !== source.size || stored.size !== source.size) {
      throw new VerificationError(
        `${source.name}: node reported ${source.size} bytes, read ${counter.bytes}, storage holds ${stored.size}`,
      );
    }
    if (sha256 !== source.sha256) {
      throw new VerificationError(`${source.name}: sha256 ${sha256} differs from the node's ${source.sha256}`);
    }
    return { name: source.name, size: stored.size, sha256 };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
