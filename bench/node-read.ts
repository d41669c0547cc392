/**
 * How fast can the daemon read an artefact from a node? ssh2 `exec cat` (src/nodes/ssh-node.ts)
 * against ssh2 SFTP (ssh2's createReadStream, and reads pipelined as src/storage/sftp-io.ts does)
 * and against the raw `ssh node cat file > /dev/null` of OpenSSH, for both ciphers that matter.
 *
 *   node --import tsx bench/node-read.ts [size MiB, default 1024] [repeats, default 3]
 *
 * Starts its own lab node (sshd in a network namespace, sharing this filesystem) and test file,
 * and removes both. Rates are MB/s (10^6 bytes), the median of the repeats, connection set-up
 * included (the daemon opens one session per node and transfer).
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { Client, type SFTPWrapper } from 'ssh2';
import { openSshSession } from '../src/nodes/ssh-node.ts';
import type { SftpSession } from '../src/storage/sftp-connection.ts';
import { sftpReadStream } from '../src/storage/sftp-io.ts';
import { startLab, type LabNode } from '../test/harness/lab.ts';

export const MiB = 1024 * 1024;
export const AES = 'aes128-gcm@openssh.com';
export const CHACHA = 'chacha20-poly1305@openssh.com';

export async function makeTestFile(sizeMiB: number): Promise<{ dir: string; file: string; size: number }> {
  const dir = await mkdtemp('/var/tmp/rearguard-bench-');
  const file = join(dir, 'artefact.bin');
  // Random bytes (nothing on the path compresses); written through the page cache, so every
  // variant reads from memory and the disk is out of the comparison.
  await execa('sh', ['-c', `head -c ${sizeMiB * MiB} /dev/urandom > ${file}`]);
  return { dir, file, size: sizeMiB * MiB };
}

export const rate = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `ssh node cat file > /dev/null` with OpenSSH's client; MB/s. */
export async function rawSsh(node: LabNode, file: string, size: number, cipher?: string): Promise<number> {
  const devNull = openSync('/dev/null', 'w');
  const t0 = performance.now();
  try {
    const ssh = spawn(
      'ssh',
      [
        ...['-i', node.privateKeyFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no'],
        ...['-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'],
        ...(cipher ? ['-c', cipher] : []),
        `root@${node.address}`,
        `cat ${file}`,
      ],
      { stdio: ['ignore', devNull, 'inherit'] },
    );
    const [code] = (await once(ssh, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`ssh cat exited with ${code}`);
  } finally {
    closeSync(devNull);
  }
  return rate(size, performance.now() - t0);
}

/** Reads a stream to its end, checking the byte count. */
export async function drain(stream: Readable, size: number): Promise<void> {
  let bytes = 0;
  await pipeline(
    stream,
    new Writable({
      highWaterMark: MiB,
      write(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done();
      },
    }),
  );
  if (bytes !== size) throw new Error(`read ${bytes} bytes, expected ${size}`);
}

function connect(node: LabNode, cipher: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once('ready', () => resolve(client)).once('error', reject);
    client.connect({
      host: node.address,
      port: node.sshPort,
      username: node.user,
      privateKey: readFileSync(node.privateKeyFile),
      algorithms: { cipher: [cipher as 'aes128-gcm@openssh.com'] },
    });
  });
}

/** The daemon's own path: openSshSession(...).readFile, ssh2's default cipher choice. */
async function daemonExecCat(node: LabNode, file: string, size: number): Promise<number> {
  const t0 = performance.now();
  const session = await openSshSession(
    {
      name: node.name,
      address: node.address,
      port: node.sshPort,
      user: node.user,
      privateKeyFile: node.privateKeyFile,
      connection: 'ssh',
    },
    { get: () => null, pin: () => undefined },
  );
  try {
    await drain(await session.readFile(file), size);
  } finally {
    session.close();
  }
  return rate(size, performance.now() - t0);
}

/** ssh2 `exec cat` with a given cipher, the channel read directly. */
async function ssh2ExecCat(node: LabNode, file: string, size: number, cipher: string): Promise<number> {
  const t0 = performance.now();
  const client = await connect(node, cipher);
  try {
    const ch = await new Promise<Readable>((res, rej) => client.exec(`cat ${file}`, (e, c) => (e ? rej(e) : res(c))));
    await drain(ch, size);
  } finally {
    client.end();
  }
  return rate(size, performance.now() - t0);
}

async function ssh2Sftp(
  node: LabNode,
  file: string,
  size: number,
  cipher: string,
  read: (sftp: SFTPWrapper) => Promise<Readable>,
): Promise<number> {
  const t0 = performance.now();
  const client = await connect(node, cipher);
  try {
    const sftp = await new Promise<SFTPWrapper>((res, rej) => client.sftp((e, s) => (e ? rej(e) : res(s))));
    await drain(await read(sftp), size);
  } finally {
    client.end();
  }
  return rate(size, performance.now() - t0);
}

const createReadStream = (file: string, highWaterMark: number) => async (sftp: SFTPWrapper) =>
  sftp.createReadStream(file, { highWaterMark }) as Readable;

const pipelined = (file: string, size: number, requests: number, chunk: number) => async (sftp: SFTPWrapper) => {
  const handle = await new Promise<Buffer>((res, rej) => sftp.open(file, 'r', (e, h) => (e ? rej(e) : res(h))));
  const session: SftpSession = { sftp, closed: false };
  const close = () => new Promise<void>((res) => sftp.close(handle, () => res()));
  return sftpReadStream(session, handle, { start: 0, end: size }, close, { requests, chunk });
};

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const repeats = Number(process.argv[3] ?? 3);
  const lab = await startLab({ nodes: 1, withRoot: false });
  const test = await makeTestFile(sizeMiB).catch(async (err) => {
    await lab.stop();
    throw err;
  });
  try {
    const node = lab.nodes[0]!;
    const { file, size } = test;
    const variants: Array<[string, () => Promise<number>]> = [
      [`raw ssh cat (OpenSSH default: chacha20)`, () => rawSsh(node, file, size)],
      [`raw ssh -c aes128-gcm cat`, () => rawSsh(node, file, size, AES)],
      ['daemon readFile (ssh-node.ts exec cat)', () => daemonExecCat(node, file, size)],
      ['ssh2 exec cat, aes128-gcm', () => ssh2ExecCat(node, file, size, AES)],
      ['ssh2 exec cat, chacha20', () => ssh2ExecCat(node, file, size, CHACHA)],
      ['ssh2 sftp createReadStream 252 KiB', () => ssh2Sftp(node, file, size, AES, createReadStream(file, 252 * 1024))],
      // SftpStorage.get's reads (sftp-io.ts defaults), and fewer larger reads for comparison.
      ['ssh2 sftp pipelined 64 x 32 KiB', () => ssh2Sftp(node, file, size, AES, pipelined(file, size, 64, 32 * 1024))],
      ['ssh2 sftp pipelined 16 x 252 KiB', () => ssh2Sftp(node, file, size, AES, pipelined(file, size, 16, 252 * 1024))],
    ];
    console.log(`reading ${sizeMiB} MiB from a lab node, median of ${repeats} (MB/s = 10^6 bytes/s)`);
    const results = new Map<string, number>();
    // Round-robin over the variants so that drifts of the machine hit them all alike.
    const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
    for (let r = 0; r < repeats; r++) for (const [name, run] of variants) samples.get(name)!.push(await run());
    for (const [name, xs] of samples) results.set(name, median(xs));
    const rawDefault = results.get(variants[0]![0])!;
    const rawAes = results.get(variants[1]![0])!;
    for (const [name, mbs] of results) {
      console.log(
        `${name.padEnd(46)} ${mbs.toFixed(0).padStart(5)} MB/s   ${(mbs / rawDefault).toFixed(2)}x raw ssh   ${(mbs / rawAes).toFixed(2)}x raw ssh aes128-gcm`,
      );
    }
  } finally {
    await rm(test.dir, { recursive: true, force: true });
    await lab.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
