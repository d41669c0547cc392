import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { ageCipher } from '../../src/encryption/age-cipher.ts';

const dir = mkdtempSync(join(tmpdir(), 'rearguard-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function identity(name: string): Promise<{ file: string; recipient: string }> {
  const file = join(dir, `${name}.key`);
  await execa('age-keygen', ['-o', file]);
  const { stdout } = await execa('age-keygen', ['-y', file]);
  return { file, recipient: stdout.trim() };
}

describe('age encryption at rest', () => {
  test('what the daemon encrypts, the standard age CLI decrypts with either recipient’s identity', async () => {
    const [alice, bob] = [await identity('alice'), await identity('bob')];
    const cipher = ageCipher([bob.recipient, alice.recipient]);
    expect(cipher.recipients).toEqual([alice.recipient, bob.recipient].sort());
    expect(cipher.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(ageCipher([alice.recipient, bob.recipient]).keyId).toBe(cipher.keyId);

    // Several age chunks (64 KiB each), fed in odd-sized pieces as ssh delivers them.
    const plain = randomBytes(5 * 1024 * 1024 + 12345);
    const pieces = Array.from({ length: Math.ceil(plain.length / 33_333) }, (_, i) =>
      plain.subarray(i * 33_333, (i + 1) * 33_333),
    );
    const encrypted = Buffer.concat(await (await cipher.encrypt(Readable.from(pieces))).toArray());
    expect(encrypted.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(encrypted.includes(plain.subarray(0, 64))).toBe(false);
    const file = join(dir, 'artefact.age');
    writeFileSync(file, encrypted);

    for (const who of [alice, bob]) {
      const out = await execa('age', ['-d', '-i', who.file, file], { encoding: 'buffer', stripFinalNewline: false });
      expect(createHash('sha256').update(out.stdout).digest('hex')).toBe(createHash('sha256').update(plain).digest('hex'));
    }
    const stranger = await identity('stranger');
    await expect(execa('age', ['-d', '-i', stranger.file, file])).rejects.toThrow(/no identity matched/);
  });

  test('sizeBound bounds the encrypted size closely, at every chunk boundary', async () => {
    const [alice, bob] = [await identity('carol'), await identity('dave')];
    const cipher = ageCipher([alice.recipient, bob.recipient]);
    for (const n of [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 1_000_000]) {
      const encrypted = Buffer.concat(await (await cipher.encrypt(Readable.from([randomBytes(n)]))).toArray());
      expect(encrypted.length).toBeLessThanOrEqual(cipher.sizeBound(n));
      expect(cipher.sizeBound(n) - encrypted.length).toBeLessThan(4096);
    }
  });

  test('no recipients is a configuration error, not silent plaintext', () => {
    expect(() => ageCipher([])).toThrow(/at least one recipient/);
  });
});
