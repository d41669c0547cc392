import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SftpStorage, type SftpStorageOptions } from '../../src/storage/sftp-storage.ts';
import { startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { generatedStream } from '../harness/byte-stream.ts';
import { strayFiles } from './bodies.ts';
import { describeStorageContract } from './storage-contract.ts';

const MiB = 1024 * 1024;

let lab: Lab;
let node: LabNode;
let hostKeySha256: string;
let storage: SftpStorage;
// The node shares the host's filesystem: what the server wrote is checked here directly.
const root = mkdtempSync(join(tmpdir(), 'rearguard-sftp-'));
const contractRoot = mkdtempSync(join(tmpdir(), 'rearguard-sftp-contract-'));
const opened: SftpStorage[] = [];

const open = (over: Partial<SftpStorageOptions> = {}) => {
  const s = new SftpStorage({
    url: `sftp://root@${node.address}${root}`,
    privateKeyFile: node.privateKeyFile,
    hostKeySha256,
    ...over,
  });
  opened.push(s);
  return s;
};
const body = (s: string | Buffer) => Readable.from([Buffer.from(s)]);

beforeAll(async () => {
  lab = await startLab({ nodes: 1, withRoot: false });
  node = lab.nodes[0]!;
  // As an operator would take it: `ssh-keygen -lf` of the server's public host key.
  const { stdout } = await execa('ssh-keygen', ['-lf', join(lab.dir, 'ssh_host_ed25519_key.pub')]);
  hostKeySha256 = stdout.split(' ')[1]!;
  storage = open();
});
afterAll(async () => {
  for (const s of opened) s.close();
  await lab?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(contractRoot, { recursive: true, force: true });
});

describeStorageContract('sftp://', {
  async fresh() {
    const dir = mkdtempSync(join(contractRoot, 'storage-'));
    const storage = open({ url: `sftp://root@${node.address}${dir}` });
    return { storage, leftovers: () => strayFiles(dir, storage), close: () => storage.close() };
  },
});

const generated = (size: number, opts: Parameters<typeof generatedStream>[1] = {}) =>
  generatedStream(size, { chunkSize: 32 * 1024, ...opts });

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sftp:// storage on a real sshd', () => {
  test('a delete removes the directories its object leaves empty, up to the root', async () => {
    await storage.put('oc/ctl-0/bk_2/a.iso', body('a'));
    await storage.put('oc/ctl-1/bk_3/a.iso', body('b'));
    await storage.delete('oc/ctl-0/bk_2/a.iso');
    expect(readdirSync(join(root, 'oc'))).toEqual(['ctl-1']);
    await storage.delete('oc/ctl-1/bk_3/a.iso');
    expect(readdirSync(root)).toEqual([]);
  });

  test('locationOf is the sftp URL of the prefix under the root', () => {
    expect(storage.locationOf('oc/ctl-1/bk_3/')).toBe(`sftp://root@${node.address}${root}/oc/ctl-1/bk_3/`);
  });

  test('checkWritable names a missing directory', async () => {
    await expect(open({ url: `sftp://root@${node.address}${root}/missing` }).checkWritable()).rejects.toThrow(
      `${root}/missing does not exist on the server`,
    );
  });

  test('a host key other than the pinned one is refused', async () => {
    const wrong = `SHA256:${createHash('sha256').update('another host').digest('base64').replace(/=+$/, '')}`;
    const err = await open({ hostKeySha256: wrong })
      .checkWritable()
      .catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'EHOSTKEY' });
    expect(String(err)).toContain(`host key mismatch: the server offered ${hostKeySha256}, the configuration pins ${wrong}`);
    expect(() => open({ hostKeySha256: 'md5:00:11' })).toThrow(/SHA256:<base64>/);
  });

  test('a key the server does not accept is refused with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rearguard-sftp-key-'));
    try {
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id')]);
      const err = await open({ privateKeyFile: join(dir, 'id') })
        .checkWritable()
        .catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'EAUTH' });
      expect(String(err)).toMatch(
        /authentication refused for user root with the key .*\/id \(All configured authentication methods failed\)/,
      );
      await expect(open({ privateKeyFile: join(dir, 'none') }).checkWritable()).rejects.toThrow(/cannot read the private key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a full disk fails the put with the reason and leaves nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rearguard-sftp-full-'));
    try {
      // Mounted inside the node (its own mount namespace): gone with the node whatever happens.
      const mounted = await node.exec(`mount -t tmpfs -o size=2m tmpfs ${dir}`);
      expect(mounted.stderr).toBe('');
      const small = open({ url: `sftp://root@${node.address}${dir}` });
      const err = await small.put('bk/big.iso', generated(8 * MiB).stream, { size: 8 * MiB }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ENOSPC' });
      expect(String(err)).toMatch(/no space left on the server's disk \(\d+ bytes free; server: "Failure"\)/);
      expect((await node.exec(`find ${dir} -type f`)).stdout).toBe('');
      await small.put('bk/small', body('fits'));
      expect((await node.exec(`cat ${dir}/bk/small`)).stdout).toBe('fits');
    } finally {
      await node.exec(`umount ${dir}`);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a connection killed mid-upload leaves nothing, and the next call reconnects', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const src = generated(64 * MiB, { gate: { at: 8 * MiB, open: gate } });
    const put = storage.put('killed/bk/a.iso', src.stream, { size: 64 * MiB });
    put.catch(() => undefined);
    const partial = () => (existsSync(join(root, 'killed/bk')) ? readdirSync(join(root, 'killed/bk')) : []);
    await until(() => partial().length === 1, 'the partial file');
    // Every process of the node but its PID 1 (the listening sshd): our session dies mid-write.
    await node.exec(
      'for p in $(ls /proc | grep -E "^[0-9]+$"); do [ "$p" = 1 ] || [ "$p" = $$ ] || kill -9 "$p" 2>/dev/null; done; true',
    );
    release();
    await expect(put).rejects.toThrow(/put failed: the connection was lost/);
    expect(partial()).toEqual([]);
    await storage.put('killed/bk/b.iso', body('again'));
    expect(await text(await storage.get('killed/bk/b.iso'))).toBe('again');
  });
});
