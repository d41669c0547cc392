/**
 * How fast the daemon serves a boot file: Rearguard's TftpBootServer (src/boot) against tftpd-hpa
 * (`in.tftpd`) and the npm `tftp` package's own file serving, each fetched by atftp with blksize
 * 1468 (lockstep, one block per ACK: what pxelinux does) and blksize 1468 + windowsize 8 (RFC 7440),
 * and against HTTP (curl from a plain node `http` server streaming the file: the data rate of the
 * daemon's HTTP boot route).
 *
 *   node --import tsx bench/tftp.ts [size MiB, default 100] [repeats, default 3]
 *
 * Targets: Rearguard TFTP >= 1.0x tftpd-hpa for both TFTP variants; HTTP >= 5x Rearguard TFTP.
 * Needs atftp, curl and tftpd-hpa (scripts/install-test-deps.sh); run as root. Starts every
 * server itself on 127.0.0.1 and stops them. Rates are MB/s (10^6 bytes) over the whole fetch
 * (client start to exit), the median of the repeats, taken round-robin over the variants.
 */
import { execa, type ResultPromise } from 'execa';
import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { createReadStream } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import tftp from 'tftp';
import { TftpBootServer } from '../src/boot/tftp-boot-server.ts';
import type { Logger } from '../src/core/ports.ts';
import { makeTestFile, median, rate } from './node-read.ts';

const quiet: Logger = { info() {}, warn() {}, error: (obj, msg) => console.error(msg, obj), debug() {} };

/** A UDP port free right now on 127.0.0.1 (for tftpd-hpa, which cannot be asked for port 0). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

/** Resolves once a TFTP server answers on `port` (any answer: a read request for no file). */
async function tftpAnswers(port: number): Promise<void> {
  const socket = createSocket('udp4');
  try {
    for (let attempt = 0; attempt < 50; attempt++) {
      const answered = once(socket, 'message');
      socket.send(Buffer.from('\0\x01no-such-file\0octet\0', 'latin1'), port, '127.0.0.1');
      const timeout = new Promise((resolve) => setTimeout(resolve, 100, 'timeout'));
      if ((await Promise.race([answered, timeout])) !== 'timeout') return;
    }
    throw new Error(`no TFTP server answers on port ${port}`);
  } finally {
    socket.close();
  }
}

async function startTftpdHpa(root: string): Promise<{ port: number; process: ResultPromise }> {
  const port = await freeUdpPort();
  // -L: foreground, a child of this process; -s: chroot into root; -u root: the test file is in
  // a mode-0700 directory that tftpd-hpa's default user (nobody) cannot read.
  const child = execa('in.tftpd', ['-L', '-u', 'root', '-s', root, '-a', `127.0.0.1:${port}`], { stdio: 'ignore' });
  void child.catch(() => undefined); // killed at the end
  await tftpAnswers(port);
  return { port, process: child };
}

/** The npm package serving files by itself (its default request listener: fs.createReadStream). */
async function startNpmTftp(root: string): Promise<{ port: number; close: () => void }> {
  const server = tftp.createServer({ host: '127.0.0.1', root, denyPUT: true, blockSize: 65464, windowSize: 64 });
  server.port = 0;
  server.on('error', (error: Error) => console.error('npm tftp server:', error.message));
  server.on('request', (req) => req.on('error', (error: Error) => console.error('npm tftp request:', error.message)));
  const listening = once(server, 'listening');
  server.listen();
  await listening;
  return { port: server._socket.address().port, close: () => server.close() };
}

async function startHttp(file: string, size: number): Promise<{ port: number; server: HttpServer }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    createReadStream(file).pipe(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server };
}

/** atftp fetching `name` into /dev/null; MB/s. */
async function atftp(port: number, name: string, size: number, windowSize?: number): Promise<number> {
  const options = ['--option', 'blksize 1468', ...(windowSize ? ['--option', `windowsize ${windowSize}`] : [])];
  const t0 = performance.now();
  await execa('atftp', [...options, '-g', '-r', name, '-l', '/dev/null', '127.0.0.1', String(port)]);
  return rate(size, performance.now() - t0);
}

async function curl(port: number, name: string, size: number): Promise<number> {
  const t0 = performance.now();
  const { stdout } = await execa('curl', [
    '-sf',
    '-o',
    '/dev/null',
    '-w',
    '%{size_download}',
    `http://127.0.0.1:${port}/${name}`,
  ]);
  const ms = performance.now() - t0;
  if (Number(stdout) !== size) throw new Error(`curl got ${stdout} bytes, expected ${size}`);
  return rate(size, ms);
}

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 100);
  const repeats = Number(process.argv[3] ?? 3);
  const test = await makeTestFile(sizeMiB);
  const root = dirname(test.file);
  const name = basename(test.file);
  await chmod(test.file, 0o644);
  const rearguard = new TftpBootServer({ host: '127.0.0.1', port: 0, root, log: quiet });
  const stops: Array<() => unknown> = [() => rm(root, { recursive: true, force: true })];
  try {
    const { port: rg } = await rearguard.start();
    stops.unshift(() => rearguard.stop());
    const hpa = await startTftpdHpa(root);
    stops.unshift(() => hpa.process.kill());
    const npm = await startNpmTftp(root);
    stops.unshift(npm.close);
    const http = await startHttp(test.file, test.size);
    stops.unshift(() => http.server.close());

    const { size } = test;
    const variants: Array<[string, () => Promise<number>]> = [
      ['tftpd-hpa, blksize 1468', () => atftp(hpa.port, name, size)],
      ['rearguard, blksize 1468', () => atftp(rg, name, size)],
      ['npm tftp own serving, blksize 1468', () => atftp(npm.port, name, size)],
      ['tftpd-hpa, blksize 1468 windowsize 8', () => atftp(hpa.port, name, size, 8)],
      ['rearguard, blksize 1468 windowsize 8', () => atftp(rg, name, size, 8)],
      ['npm tftp own serving, blksize 1468 windowsize 8', () => atftp(npm.port, name, size, 8)],
      ['HTTP (node http stream, curl)', () => curl(http.port, name, size)],
    ];
    console.log(`fetching ${sizeMiB} MiB over loopback, median of ${repeats} (MB/s = 10^6 bytes/s)`);
    // Round-robin over the variants so that drifts of the machine hit them all alike.
    const samples = new Map<string, number[]>(variants.map(([variant]) => [variant, []]));
    for (let r = 0; r < repeats; r++) for (const [variant, run] of variants) samples.get(variant)!.push(await run());
    const mbs = new Map([...samples].map(([variant, xs]) => [variant, median(xs)]));
    for (const [variant, xs] of samples) {
      console.log(
        `${variant.padEnd(48)} ${mbs.get(variant)!.toFixed(0).padStart(5)} MB/s   (${xs.map((x) => x.toFixed(0)).join(', ')})`,
      );
    }
    const at = (i: number) => mbs.get(variants[i]![0])!;
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    console.log(`rearguard / tftpd-hpa, blksize 1468:              ${ratio(at(1), at(0))}   (target >= 1.0x)`);
    console.log(`rearguard / tftpd-hpa, blksize 1468 windowsize 8: ${ratio(at(4), at(3))}   (target >= 1.0x)`);
    console.log(`npm tftp own / tftpd-hpa, blksize 1468:           ${ratio(at(2), at(0))}`);
    console.log(`npm tftp own / tftpd-hpa, windowsize 8:           ${ratio(at(5), at(3))}`);
    console.log(`HTTP / rearguard TFTP blksize 1468:               ${ratio(at(6), at(1))}   (target >= 5x)`);
    console.log(`HTTP / rearguard TFTP windowsize 8:               ${ratio(at(6), at(4))}   (target >= 5x)`);
  } finally {
    for (const stop of stops) await stop();
  }
}

await main();
