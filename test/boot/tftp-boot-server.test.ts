/**
 * The daemon's TFTP boot server against real TFTP clients: atftp (which negotiates blksize and
 * windowsize, as iPXE and pxelinux negotiate blksize) and tftp-hpa's tftp (no options at all:
 * 512-byte blocks, like the oldest PXE ROMs). The server binds 127.0.0.1, port 0.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BootFetch } from '../../src/core/ports.ts';
import { newId } from '../../src/core/ids.ts';
import { installBootloaders } from '../../src/boot/bootloaders.ts';
import { TftpBootServer } from '../../src/boot/tftp-boot-server.ts';
import type { Logger } from '../../src/core/ports.ts';

const HOST = '127.0.0.1';
const RESTORE_ID = newId('rs');
const STAGED_KERNEL = `rearguard/${RESTORE_ID}/kernel`;
const NODE_CONFIG = 'pxelinux.cfg/01-52-54-00-ab-cd-ef';
const SECRET = `not a boot file ${randomBytes(8).toString('hex')}`;

/** Requests refused (the name, given the test's temporary directory) and the error the client gets. */
const REFUSALS = [
  { what: 'a ../ name', name: () => '../secret.txt', error: 'Invalid filename' },
  { what: 'a name that normalises out of the root', name: () => 'pxelinux.cfg/../../secret.txt', error: 'Invalid filename' },
  { what: 'an absolute path', name: (dir: string) => join(dir, 'secret.txt'), error: 'Access violation' },
  { what: 'a symlink in the root to a file outside it', name: () => 'escape.txt', error: 'Access violation' },
  {
    what: 'a path through a symlinked directory outside the root',
    name: () => 'outside-dir/secret.txt',
    error: 'Access violation',
  },
  { what: 'a directory', name: () => 'pxelinux.cfg', error: 'Access violation' },
  {
    what: "another node's pxelinux.cfg/01-<mac>, not staged",
    name: () => 'pxelinux.cfg/01-52-54-00-aa-bb-cc',
    error: 'File not found',
  },
];

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A server on a fresh root, recording its reports and log lines. */
async function startServer(root: string) {
  const fetches: BootFetch[] = [];
  const logged: Array<{ level: string; obj: Record<string, unknown>; msg?: string }> = [];
  const record = (level: string) => (obj: object, msg?: string) =>
    void logged.push({ level, obj: obj as Record<string, unknown>, msg });
  const log: Logger = { info: record('info'), warn: record('warn'), error: record('error'), debug: record('debug') };
  const server = new TftpBootServer({ host: HOST, port: 0, root, log, onFetch: (f) => fetches.push(f) });
  const { port } = await server.start();
  /** The report of the one request for `file` (reports come once the request has ended). */
  const fetchOf = (file: string) =>
    vi.waitFor(() => {
      const found = fetches.filter((f) => f.path === file);
      expect(found).toHaveLength(1);
      return found[0]!;
    });
  return { server, port, fetches, logged, fetchOf };
}

const atftp = (port: number, args: string[]) => execa('atftp', [...args, HOST, String(port)], { reject: false, all: true });
const atftpGet = (port: number, file: string, out: string, options: string[] = []) =>
  atftp(port, [...options.flatMap((o) => ['--option', o]), '-g', '-r', file, '-l', out]);
/** tftp-hpa exits 0 even on errors: they are read from its output. */
const tftpHpa = (port: number, command: string) =>
  execa('tftp', ['-m', 'binary', HOST, String(port), '-c', ...command.split(' ')], { reject: false, all: true });

describe('TftpBootServer', () => {
  let dir: string;
  let root: string;
  let out: string;
  let srv: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rearguard-tftp-'));
    root = join(dir, 'root');
    out = join(dir, 'out');
    await mkdir(join(root, 'pxelinux.cfg'), { recursive: true });
    await mkdir(out);
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'secret.txt'), SECRET);
    await writeFile(join(dir, 'outside', 'secret.txt'), SECRET);
    await symlink(join(dir, 'secret.txt'), join(root, 'escape.txt'));
    await symlink(join(dir, 'outside'), join(root, 'outside-dir'));
    // Sizes: empty, whole blocks only (the transfer ends with an empty block), and a last
    // partial block after several 1 MiB read-ahead chunks.
    await writeFile(join(root, 'empty.bin'), '');
    await writeFile(join(root, 'whole-blocks.bin'), randomBytes(1468 * 100));
    await writeFile(join(root, 'initrd.img'), randomBytes(5 * 1024 * 1024 + 1234));
    await writeFile(join(root, 'pxelinux.cfg', 'default'), 'DEFAULT rescue\n');
    await mkdir(join(root, 'rearguard', RESTORE_ID), { recursive: true });
    await writeFile(join(root, STAGED_KERNEL), randomBytes(3000));
    await writeFile(join(root, NODE_CONFIG), 'DEFAULT rearguard\n');
    // More than 65535 blocks of 512 bytes: block numbers roll over (a ReaR initrd fetched with
    // iPXE's blksize 1432 has ~95,000 blocks).
    await writeFile(join(root, 'rollover.img'), randomBytes(65_536 * 512 + 1000));
    srv = await startServer(root);
  });

  afterAll(async () => {
    await srv?.server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['empty.bin', 'whole-blocks.bin', 'initrd.img'])(
    'serves %s byte-identical with blksize and windowsize negotiated (atftp)',
    async (file) => {
      const local = join(out, `atftp-${file}`);
      const result = await atftpGet(srv.port, file, local, ['blksize 1468', 'windowsize 8', 'tsize 0']);
      expect(result.exitCode, result.all).toBe(0);
      expect(sha256(local)).toBe(sha256(join(root, file)));
      const size = (await stat(join(root, file))).size;
      expect(await srv.fetchOf(file)).toEqual({
        protocol: 'tftp',
        client: HOST,
        target: null,
        path: file,
        outcome: 'sent',
        bytes: size,
      });
      const request = srv.logged.find((l) => l.msg === 'tftp: read request' && l.obj.file === file);
      expect(request?.obj).toMatchObject({ client: HOST, blksize: 1468, windowsize: 8 });
    },
  );

  it("reports what a fetch is in the boot root's layout: a restore's kernel, a node's config", async () => {
    for (const [file, target] of [
      [STAGED_KERNEL, { restoreId: RESTORE_ID, artefact: 'kernel' }],
      [NODE_CONFIG, { mac: '52:54:00:ab:cd:ef', artefact: 'config', flavour: 'pxelinux' }],
    ] as const) {
      const result = await atftpGet(srv.port, file, join(out, `target-${file.replaceAll('/', '_')}`), ['blksize 1468']);
      expect(result.exitCode, result.all).toBe(0);
      expect(await srv.fetchOf(file)).toMatchObject({ protocol: 'tftp', path: file, outcome: 'sent', target });
    }
  });

  it('tells atftp the negotiated options and the size in its OACK', async () => {
    const result = await atftp(srv.port, [
      ...['--trace', '--option', 'blksize 1432', '--option', 'windowsize 4', '--option', 'tsize 0'],
      ...['-g', '-r', 'pxelinux.cfg/default', '-l', join(out, 'default')],
    ]);
    expect(result.exitCode, result.all).toBe(0);
    const oack = result.all.split('\n').find((line) => line.startsWith('received OACK'));
    expect(oack).toMatch(/blksize: 1432/);
    expect(oack).toMatch(/windowsize: 4/);
    expect(oack).toMatch(/tsize: 15/);
  });

  it('serves tftp-hpa (no options: 512-byte blocks, lockstep) byte-identical past block 65535', async () => {
    const local = join(out, 'tftp-hpa-rollover.img');
    const result = await tftpHpa(srv.port, `get rollover.img ${local}`);
    expect(result.all).toBe('');
    expect(sha256(local)).toBe(sha256(join(root, 'rollover.img')));
    expect(await srv.fetchOf('rollover.img')).toMatchObject({ outcome: 'sent', bytes: 65_536 * 512 + 1000 });
  });

  it('refuses write requests from both clients and creates nothing in the root', async () => {
    const before = await readdir(root, { recursive: true });
    const upload = join(out, 'upload.bin');
    await writeFile(upload, randomBytes(4000));

    const hpa = await tftpHpa(srv.port, `put ${upload} pxelinux.cfg/01-52-54-00-12-34-56`);
    expect(hpa.all).toMatch(/Cannot PUT files/);
    const at = await atftp(srv.port, ['-p', '-l', upload, '-r', 'new.bin']);
    expect(at.exitCode).not.toBe(0);
    expect(at.all).toMatch(/Cannot PUT files/);

    expect(await readdir(root, { recursive: true })).toEqual(before);
    for (const file of ['pxelinux.cfg/01-52-54-00-12-34-56', 'new.bin']) {
      expect(await srv.fetchOf(file)).toMatchObject({
        client: HOST,
        outcome: 'refused',
        bytes: 0,
        reason: expect.stringMatching(/read-only/),
      });
      expect(srv.logged).toContainEqual(
        expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ client: HOST, file }) }),
      );
    }
  });

  describe('refuses what is not a regular file inside the root, with the client address in onFetch and the log', () => {
    it.each(REFUSALS)('$what (atftp: $error)', async ({ name, error }) => {
      const file = name(dir);
      const local = join(out, `refused-${randomBytes(4).toString('hex')}`);
      const result = await atftpGet(srv.port, file, local, ['blksize 1468']);
      expect(result.exitCode).not.toBe(0);
      expect(result.all).toContain(`<${error}>`);
      expect(existsSync(local) ? readFileSync(local, 'utf8') : '').not.toContain(SECRET);
      const reported = file.replace(/^\/+/, ''); // onFetch names files relative to the root
      expect(await srv.fetchOf(reported)).toMatchObject({
        protocol: 'tftp',
        client: HOST,
        path: reported,
        outcome: 'refused',
        bytes: 0,
      });
      expect(srv.logged).toContainEqual(
        expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ client: HOST, file: reported }) }),
      );
    });

    it('the same with tftp-hpa: a symlink out of the root and a ../ name', async () => {
      for (const [file, error] of [
        ['escape.txt', 'Error code 2: Access violation'],
        ['../outside/secret.txt', 'Invalid filename'],
      ] as const) {
        const local = join(out, `hpa-refused-${file.replaceAll('/', '_')}`);
        const result = await tftpHpa(srv.port, `get ${file} ${local}`);
        expect(result.all).toContain(error);
        expect(readFileSync(local, 'utf8')).not.toContain(SECRET);
        expect(srv.fetches.filter((f) => f.path === file).at(-1)).toMatchObject({ client: HOST, outcome: 'refused' });
      }
    });
  });

  describe('malformed packets', () => {
    let raw: Socket;
    beforeAll(async () => {
      raw = createSocket('udp4');
      await new Promise<void>((resolve) => raw.bind(0, HOST, resolve));
    });
    afterAll(() => raw.close());

    /** Sends a packet and returns the first answer (any port), or undefined after 1 s. */
    const exchange = async (packet: Buffer, port = srv.port) => {
      const answer = once(raw, 'message') as Promise<[Buffer, { port: number }]>;
      raw.send(packet, port, HOST);
      return Promise.race([answer, new Promise<undefined>((resolve) => setTimeout(resolve, 1000))]);
    };
    const opcode = (answer: [Buffer, unknown] | undefined) => answer?.[0].readUInt16BE(0);

    it.each([
      ['one byte', Buffer.from([0xff])],
      ['garbage', randomBytes(40).fill(0xde, 0, 1)],
      ['a truncated read request', Buffer.from('\0\x01pxelinux.0', 'latin1')],
      ['an unknown opcode', Buffer.from('\0\x09pxelinux.0\0octet\0', 'latin1')],
      ['an ACK to the listening port', Buffer.from('\0\x04\0\x01garbage!', 'latin1')],
      ['a read request with an invalid blksize', Buffer.from('\0\x01pxelinux.cfg/default\0octet\0blksize\x001\0', 'latin1')],
    ])('%s gets a TFTP error and the server serves on', async (_what, packet) => {
      expect(opcode(await exchange(packet))).toBe(5);
      const local = join(out, `after-malformed-${randomBytes(4).toString('hex')}`);
      expect((await atftpGet(srv.port, 'pxelinux.cfg/default', local)).exitCode).toBe(0);
      expect(readFileSync(local, 'utf8')).toBe('DEFAULT rescue\n');
    });

    it("runt packets on a transfer's own port are ignored (the npm package alone would throw on them)", async () => {
      const oack = await exchange(Buffer.from('\0\x01whole-blocks.bin\0octet\0blksize\x001468\0', 'latin1'));
      expect(opcode(oack)).toBe(6);
      const transferPort = oack![1].port;
      raw.send(Buffer.from([1]), transferPort, HOST);
      raw.send(Buffer.alloc(0), transferPort, HOST);
      const data = await exchange(Buffer.from([0, 4, 0, 0]), transferPort);
      expect(opcode(data)).toBe(3);
      expect(data![0].readUInt16BE(2)).toBe(1);
      // The client gives up: the transfer is reported failed with its reason.
      raw.send(Buffer.from('\0\x05\0\0client gave up\0', 'latin1'), transferPort, HOST);
      await vi.waitFor(() =>
        expect(srv.fetches).toContainEqual({
          protocol: 'tftp',
          client: HOST,
          target: null,
          path: 'whole-blocks.bin',
          outcome: 'failed',
          bytes: 0,
          reason: 'client gave up',
        }),
      );
      const local = join(out, 'after-runt');
      expect((await atftpGet(srv.port, 'whole-blocks.bin', local, ['blksize 1468'])).exitCode).toBe(0);
      expect(sha256(local)).toBe(sha256(join(root, 'whole-blocks.bin')));
    });
  });

  it('windowsize: after an ACK of part of a window sends on from the next block, and resends a window left unacknowledged', async () => {
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, HOST, resolve));
    const received: Buffer[] = [];
    let transferPort = 0;
    client.on('message', (message: Buffer, rinfo) => {
      transferPort = rinfo.port;
      received.push(message);
    });
    /** Block numbers of the next `n` packets, which must all be DATA. */
    const nextBlocks = async (n: number) => {
      await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(n), { timeout: 5000 });
      return received.splice(0, n).map((p) => (p.readUInt16BE(0) === 3 ? p.readUInt16BE(2) : -p.readUInt16BE(0)));
    };
    const ack = (block: number) => client.send(Buffer.from([0, 4, block >> 8, block & 0xff]), transferPort, HOST);
    try {
      client.send(Buffer.from('\0\x01whole-blocks.bin\0octet\0blksize\x001468\0windowsize\x004\0', 'latin1'), srv.port, HOST);
      await vi.waitFor(() => expect(received.splice(0, 1).map((p) => p.readUInt16BE(0))).toEqual([6]));
      ack(0);
      expect(await nextBlocks(4)).toEqual([1, 2, 3, 4]);
      ack(2); // blocks 3 and 4 lost: the next window starts at 3
      expect(await nextBlocks(4)).toEqual([3, 4, 5, 6]);
      const unacknowledged = performance.now();
      expect(await nextBlocks(4)).toEqual([3, 4, 5, 6]);
      expect(performance.now() - unacknowledged).toBeGreaterThan(900); // after the 1 s timeout, not at once
      ack(6);
      expect(await nextBlocks(4)).toEqual([7, 8, 9, 10]);
    } finally {
      client.send(Buffer.from('\0\x05\0\0done\0', 'latin1'), transferPort, HOST);
      client.close();
    }
  });

  it('reports a transfer failed when its client goes away', async () => {
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, HOST, resolve));
    const oack = once(client, 'message');
    client.send(Buffer.from('\0\x01initrd.img\0octet\0blksize\x001468\0', 'latin1'), srv.port, HOST);
    await oack;
    const before = srv.fetches.length;
    client.close();
    // The OACK's retransmission (after 1 s) finds the client's port closed.
    await vi.waitFor(
      () => expect(srv.fetches.slice(before)).toContainEqual(expect.objectContaining({ path: 'initrd.img', outcome: 'failed' })),
      { timeout: 10_000 },
    );
  });

  it('stop() aborts the transfers in progress and reports them failed', async () => {
    const own = await startServer(root);
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, HOST, resolve));
    try {
      const oack = once(client, 'message');
      client.send(Buffer.from('\0\x01initrd.img\0octet\0blksize\x001468\0', 'latin1'), own.port, HOST);
      await oack;
      const error = once(client, 'message') as Promise<[Buffer]>;
      await own.server.stop();
      expect((await error)[0].readUInt16BE(0)).toBe(5);
      expect(own.fetches).toEqual([expect.objectContaining({ path: 'initrd.img', outcome: 'failed' })]);
    } finally {
      client.close();
    }
  });
});

describe('installBootloaders', () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rearguard-bootloaders-'));
    root = join(dir, 'root');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("copies Debian's bootloaders as plain 0644 files, and pxelinux.0 fetched over TFTP is Debian's", async () => {
    const installed = await installBootloaders(root);
    expect(installed).toEqual(['pxelinux.0', 'ldlinux.c32', 'undionly.kpxe', 'ipxe.efi']);
    for (const [name, source] of [
      ['pxelinux.0', '/usr/lib/PXELINUX/pxelinux.0'],
      ['ldlinux.c32', '/usr/lib/syslinux/modules/bios/ldlinux.c32'],
      ['undionly.kpxe', '/usr/lib/ipxe/undionly.kpxe'],
      ['ipxe.efi', '/usr/lib/ipxe/ipxe.efi'],
    ] as const) {
      const info = await lstat(join(root, name));
      expect(info.isFile()).toBe(true);
      expect(info.mode & 0o777).toBe(0o644);
      expect(sha256(join(root, name))).toBe(sha256(source));
    }
    expect(await readdir(root)).toHaveLength(4); // no temporary files left

    const srv = await startServer(root);
    try {
      const local = join(dir, 'fetched-pxelinux.0');
      const result = await tftpHpa(srv.port, `get pxelinux.0 ${local}`);
      expect(result.all).toBe('');
      expect(sha256(local)).toBe(sha256('/usr/lib/PXELINUX/pxelinux.0'));
    } finally {
      await srv.server.stop();
    }
  });
});
