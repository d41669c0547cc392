import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Encrypter } from 'age-encryption';
import type { ArtefactCipher } from '../core/ports.ts';

/**
 * Encryption at rest in the age format, so that an operator can decrypt a stored artefact with the
 * standard `age` tool and their identity, without Rearguard. The daemon holds only recipients
 * (public keys): it can write backups, never read them back decrypted.
 */
export function ageCipher(recipients: string[]): ArtefactCipher {
  if (recipients.length === 0) throw new Error('age encryption needs at least one recipient');
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  const sorted = [...recipients].sort();
  return {
    format: 'age',
    recipients: sorted,
    keyId: createHash('sha256').update(sorted.join('\n')).digest('hex').slice(0, 16),
    async encrypt(input: Readable): Promise<Readable> {
      const encrypted = await encrypter.encrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      return Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
    },
    sizeBound(plainBytes: number): number {
      // A header of a few hundred bytes per recipient, a 16-byte nonce, and a 16-byte tag per
      // 64 KiB chunk (the last one possibly empty).
      return 1024 * (recipients.length + 1) + 16 + plainBytes + 16 * (Math.floor(plainBytes / 65536) + 1);
    },
  };
}
