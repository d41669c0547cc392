/**
 * The rescue hook (pxe/rescue-hook.sh) and the ReaR script the overlay replaces
 * (pxe/rear/550_check_backup_archive.sh), run by bash on this host: the hook against a small HTTP
 * server that plays the daemon's boot routes, with `rear` a stand-in whose recover does what
 * ReaR's restore/NETFS/default/400_restore_backup.sh does (`dd if=$restore_input bs=1M | tar … -x`).
 * test/api/restore-routes.test.ts runs the hook against the real daemon.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { renderRescueOverlay } from '../../src/boot/boot-configs.ts';

const pxe = join(import.meta.dirname, '../../pxe');
const hook = join(pxe, 'rescue-hook.sh');
const check550 = join(pxe, 'rear/550_check_backup_archive.sh');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
let archive: Buffer;
/** What the fake daemon saw, in order: `GET archive` and `report <what>`, each with its time. */
let seen: { what: string; at: number }[] = [];
/** How the fake daemon sends the archive: all of it, or the first half then a closed connection. */
let send: 'whole' | 'short' = 'whole';
let server: Server;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rg-hook-'));
  // A real gzipped tar, of a file of random bytes (so gzip keeps it large) and a small one.
  mkdirSync(join(dir, 'tree/etc'), { recursive: true });
  writeFileSync(join(dir, 'tree/etc/hostname'), 'restored\n');
  writeFileSync(join(dir, 'tree/big'), randomBytes(3 << 20));
  await execa('tar', ['-czf', join(dir, 'backup.tar.gz'), '-C', join(dir, 'tree'), '.']);
  archive = readFileSync(join(dir, 'backup.tar.gz'));

  server = createServer((req, res) => {
    const report = /^\/boot\/rs_test\/report\/(\w+)$/.exec(req.url ?? '');
    if (req.method === 'POST' && report) {
      seen.push({ what: `report ${report[1]}`, at: Date.now() });
      res.writeHead(204).end();
    } else if (req.method === 'GET' && req.url === '/boot/rs_test/archive') {
      seen.push({ what: 'GET archive', at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(archive.length) });
      if (send === 'whole') res.end(archive);
      else res.write(archive.subarray(0, archive.length >> 1), () => res.destroy());
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** Sources the hook and runs `rear -v recover`, whose recover is `recover` (bash, with $a the archive path and $t a target dir). */
async function recoverWith(name: string, recover: string, path = process.env.PATH) {
  seen = [];
  const rescue = join(dir, name);
  const archivePath = join(rescue, 'var/lib/rearguard/bk_test/backup.tar.gz');
  mkdirSync(join(rescue, 'bin'), { recursive: true });
  mkdirSync(join(rescue, 'target'));
  const env = {
    RG_RESTORE_ID: 'rs_test',
    RG_BACKUP_ID: 'bk_test',
    RG_NODE: 'node1',
    RG_HTTP: url,
    RG_ARCHIVE_PATH: archivePath,
    RG_ARCHIVE_SHA256: sha256(archive),
  };
  writeFileSync(
    join(rescue, 'restore.env'),
    Object.entries(env)
      .map(([k, v]) => `${k}='${v}'\n`)
      .join(''),
  );
  const script = ['#!/bin/bash', `a='${archivePath}' t='${rescue}/target' r='${rescue}'`, recover].join('\n');
  writeFileSync(join(rescue, 'bin/rear'), `${script}\n`, { mode: 0o755 });
  const started = Date.now();
  const r = await execa('bash', ['-c', `source '${hook}'; rear -v recover`], {
    env: { RG_ENV_FILE: join(rescue, 'restore.env'), RG_ARCHIVE_WAIT: '3', PATH: `${join(rescue, 'bin')}:${path}` },
    reject: false,
    timeout: 30_000,
  });
  return { r, rescue, archivePath, seconds: (Date.now() - started) / 1000, seen: seen.map((s) => s.what), at: seen };
}

/** ReaR 2.7's restore of a tar archive, as restore/NETFS/default/400_restore_backup.sh runs it. */
const rearRestore = 'dd if=$a bs=1M | tar --block-number --totals --verbose -z -C $t/ -x -f - > $r/tar.log 2>&1';

describe('the rescue hook streams the archive into the recover', () => {
  test('through a FIFO that ReaR’s restore reads with dd | tar; the GET starts only once the restore opens it', async () => {
    const recover = [
      '[ -p "$a" ] && echo fifo > $r/kind',
      'sleep 1', // the layout recreation
      'date +%s%3N > $r/restore-started',
      rearRestore,
      'echo "tar exit ${PIPESTATUS[1]}" >> $r/tar.log',
    ].join('\n');
    const { r, rescue, archivePath, seen, at } = await recoverWith('whole', recover);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(rescue, 'kind'), 'utf8').trim()).toBe('fifo');
    expect(statSync(archivePath).isFIFO()).toBe(true);
    expect(readFileSync(join(rescue, 'tar.log'), 'utf8')).toContain('tar exit 0');
    expect(readFileSync(join(rescue, 'target/etc/hostname'), 'utf8')).toBe('restored\n');
    expect(sha256(readFileSync(join(rescue, 'target/big')))).toBe(sha256(readFileSync(join(dir, 'tree/big'))));
    expect(seen).toEqual(['report rescue_booted', 'GET archive', 'report archive_fetched', 'report recovered']);
    // No HTTP response is held open while the layout is recreated.
    const restoreStarted = Number(readFileSync(join(rescue, 'restore-started'), 'utf8'));
    expect(at[1]!.at).toBeGreaterThanOrEqual(restoreStarted);
  });

  test('a short read is an archive_mismatch, and a recover that "succeeded" over it is reported failed', async () => {
    send = 'short';
    try {
      // ReaR's restore logs a failing tar and goes on: its recover ends with 0.
      const { r, seen } = await recoverWith('short', `${rearRestore}\nexit 0`);
      expect(seen).toEqual(['report rescue_booted', 'GET archive', 'report archive_mismatch', 'report recover_failed']);
      expect(r.stdout).toContain('Rearguard: the archive ReaR read is not the archive of bk_test');
      expect(r.exitCode).not.toBe(0);
    } finally {
      send = 'whole';
    }
  });

  test('without sha256sum in the rescue system (ReaR does not ship it), the length is checked against Content-Length', async () => {
    // A PATH with only what ReaR's rescue system has of what the hook and the stand-in use.
    const tools = join(dir, 'rescue-tools');
    mkdirSync(tools, { recursive: true });
    for (const tool of ['bash', 'cat', 'dd', 'tee', 'mkfifo', 'mktemp', 'mkdir', 'rm', 'sed', 'sleep', 'tar', 'gzip', 'date']) {
      const { stdout } = await execa('bash', ['-c', `type -P ${tool}`]);
      if (!existsSync(join(tools, tool))) symlinkSync(stdout.trim(), join(tools, tool));
    }
    const whole = await recoverWith('no-sha-whole', rearRestore, tools);
    expect(whole.r.stdout).toContain('no sha256sum in the rescue system');
    expect(whole.seen).toEqual(['report rescue_booted', 'GET archive', 'report archive_fetched', 'report recovered']);
    expect(whole.r.exitCode).toBe(0);
    send = 'short';
    try {
      const short = await recoverWith('no-sha-short', `${rearRestore}\nexit 0`, tools);
      expect(short.seen).toEqual(['report rescue_booted', 'GET archive', 'report archive_mismatch', 'report recover_failed']);
      expect(short.r.exitCode).not.toBe(0);
    } finally {
      send = 'whole';
    }
  });

  test('a recover that fails before its restore never fetches the archive; the waiting writer is stopped', async () => {
    const { r, seen, seconds } = await recoverWith('layout-failed', 'echo "layout recreation failed"; exit 1');
    expect(r.exitCode).toBe(1);
    expect(seen).toEqual(['report rescue_booted', 'report recover_failed']);
    expect(r.stdout).toContain('Rearguard: rear recover never read the archive of bk_test');
    expect(seconds).toBeLessThan(10);
  });

  test('a second recover after a failed one gets a new writer', async () => {
    const recover = `if [ -e $r/once ]; then ${rearRestore}; else touch $r/once; exit 1; fi`;
    const rescue = join(dir, 'again');
    const first = await recoverWith('again', recover);
    expect(first.seen).toEqual(['report rescue_booted', 'report recover_failed']);
    // The same shell, as a user at the rescue system's prompt would do: source once, recover twice.
    rmSync(join(rescue, 'once'));
    seen = [];
    const r = await execa('bash', ['-c', `source '${hook}'; rear recover; rear recover`], {
      env: { RG_ENV_FILE: join(rescue, 'restore.env'), RG_ARCHIVE_WAIT: '3', PATH: `${join(rescue, 'bin')}:${process.env.PATH}` },
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(0);
    expect(seen.map((s) => s.what)).toEqual([
      'report rescue_booted',
      'report recover_failed',
      'GET archive',
      'report archive_fetched',
      'report recovered',
    ]);
    expect(readFileSync(join(rescue, 'target/etc/hostname'), 'utf8')).toBe('restored\n');
  });
});

describe('ReaR’s verify/NETFS/default/550_check_backup_archive.sh, as the overlay replaces it', () => {
  test('the overlay puts it where ReaR’s is, over it', () => {
    const overlay = renderRescueOverlay({
      restoreId: 'rs_test',
      backupId: 'bk_test',
      node: 'node1',
      macs: [],
      httpUrl: 'http://x',
      kernelArgs: '',
      rescueEnv: {},
    });
    const name = Buffer.from('usr/share/rear/verify/NETFS/default/550_check_backup_archive.sh\0');
    expect(overlay.includes(name)).toBe(true);
    expect(overlay.includes(readFileSync(check550))).toBe(true);
  });

  /** Sources the script in a function, as ReaR's Source does, with ReaR's functions it calls. */
  const check = (archivePath: string, extra = '') =>
    execa(
      'bash',
      [
        '-c',
        [
          'LogPrint() { echo "$*"; }',
          'Error() { echo "ERROR: $*"; exit 1; }',
          'url_scheme() { echo "${1%%://*}"; }',
          'is_true() { case "$1" in [yY]*|1|[tT]rue) return 0 ;; esac; return 1; }',
          `BACKUP_URL=file:///var/lib/rearguard backuparchive='${archivePath}' TMP_DIR=$(mktemp -d) ${extra}`,
          `verify() { source '${check550}'; }`,
          'verify && echo "verified"',
        ].join('\n'),
      ],
      { reject: false, timeout: 10_000 },
    );

  test('accepts a FIFO without reading it (even with BACKUP_INTEGRITY_CHECK and an .md5 beside it), a regular file as before, and fails on a missing one', async () => {
    const d = mkdtempSync(join(tmpdir(), 'rg-550-'));
    try {
      await execa('mkfifo', [join(d, 'fifo.tar.gz')]);
      writeFileSync(join(d, 'fifo.tar.gz.md5'), 'd41d8cd98f00b204e9800998ecf8427e  fifo.tar.gz\n');
      // Opening the FIFO would block the script: the timeout would fail it.
      const fifo = await check(join(d, 'fifo.tar.gz'), 'BACKUP_INTEGRITY_CHECK=yes');
      expect(fifo.exitCode).toBe(0);
      expect(fifo.stdout).toContain('is streamed by Rearguard through a FIFO');
      expect(fifo.stdout).toContain('verified');

      writeFileSync(join(d, 'file.tar.gz'), Buffer.alloc(300_000, 1));
      const file = await check(join(d, 'file.tar.gz'));
      expect(file.exitCode).toBe(0);
      expect(file.stdout).toMatch(/Backup archive size is \d+K/);
      expect(file.stdout).toContain('verified');

      const missing = await check(join(d, 'missing.tar.gz'));
      expect(missing.exitCode).toBe(1);
      expect(missing.stdout).toContain("ERROR: Backup archive 'missing.tar.gz' not found.");
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
