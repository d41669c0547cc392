import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { Artefact } from '../model.ts';
import type { ArtefactCipher, NodeSession, Storage } from '../ports.ts';

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
 * Streams one artefact node -> (hash) -> (encrypt) -> (hash) -> storage, and proves that what
 * storage got is what the node made: the plaintext's size and sha256 equal the node's manifest,
 * and storage holds every byte that was sent. Nothing lands on the daemon's disk.
 */
export async function transferArtefact(
  session: NodeSession,
  storage: Storage,
  source: { path: string } & Artefact,
  key: string,
  opts: { signal?: AbortSignal; cipher?: ArtefactCipher } = {},
): Promise<Artefact> {
  const input = await session.readFile(source.path);
  const plain = new HashingCounter();
  const onAbort = () => input.destroy(new Error('transfer aborted'));
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    input.on('error', (err) => plain.destroy(err));
    let body = input.pipe(plain);
    let sent = plain;
    if (opts.cipher) {
      sent = new HashingCounter();
      const encrypted = await opts.cipher.encrypt(body);
      encrypted.on('error', (err) => sent.destroy(err));
      body = encrypted.pipe(sent);
    }
    const size = opts.cipher ? { sizeHint: opts.cipher.sizeBound(source.size) } : { size: source.size };
    const stored = await storage.put(key, body, size);
    const sha256 = plain.digest();
    if (plain.bytes !== source.size) {
      throw new VerificationError(`${source.name}: node reported ${source.size} bytes, read ${plain.bytes}`);
    }
    if (sha256 !== source.sha256) {
      throw new VerificationError(`${source.name}: sha256 ${sha256} differs from the node's ${source.sha256}`);
    }
    if (stored.size !== sent.bytes) {
      throw new VerificationError(`${source.name}: sent ${sent.bytes} bytes, storage holds ${stored.size}`);
    }
    const artefact: Artefact = { name: source.name, size: source.size, sha256 };
    return opts.cipher ? { ...artefact, stored_size: stored.size, stored_sha256: sent.digest() } : artefact;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
