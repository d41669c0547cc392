import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter } from 'age-encryption';
import type { ArtefactDecipher } from '../core/ports.ts';

/**
 * Decrypts stored artefacts for restores with the age identities in a file (as `age-keygen`
 * writes them: comment lines, then AGE-SECRET-KEY-1… lines). Only restores read it.
 */
export function ageDecipher(identityFile: string): ArtefactDecipher {
  const identities = readFileSync(identityFile, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-'));
  if (identities.length === 0) throw new Error(`${identityFile} holds no age identity (AGE-SECRET-KEY-…)`);
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  return {
    async decrypt(input: Readable): Promise<Readable> {
      const plain = await decrypter.decrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
      return Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>);
    },
  };
}
