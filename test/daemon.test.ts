import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { killGroup, spawnDaemon, waitReady, type DaemonProcess } from './harness/daemon-process.ts';
import { client, waitForFile, waitForRun, Workspace } from './harness/test-daemon.ts';

const started: DaemonProcess[] = [];
const workspaces: Workspace[] = [];
afterAll(() => {
  for (const p of started) killGroup(p, 'SIGKILL');
  for (const ws of workspaces) ws.remove();
});

function daemon(opts: Parameters<typeof spawnDaemon>[0]): DaemonProcess {
  const p = spawnDaemon(opts);
  started.push(p);
  return p;
}

/** A daemon process with an undercloud backup held mid-image by the fixture playbook (its services stopped). */
async function heldBackup() {
  const ws = new Workspace({ undercloud: { undercloud: { hold: true } } });
  workspaces.push(ws);
  const env = { REARGUARD_CONFIG: ws.writeConfig({ log: { level: 'info' } }) };
  const p = daemon({ env });
  const url = await p.url;
  const c = client(url);
  const run = await c.json('POST', '/v1/backup/undercloud', { status: 202 });
  await waitForFile(join(ws.staging, `quiesced-${run.run.id}-undercloud`));
  return { ws, env, process: p, url, c, run };
}

describe('start-up', () => {
  test('embedded defaults: generates an admin token only root can read, and it works', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'rearguard-defaults-'));
    try {
      const p = daemon({ cwd, env: { REARGUARD_CONFIG: '' } });
      const url = await p.url;
      const tokenFile = join(cwd, 'var/admin.token');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect((await fetch(`${url}/v1/backup`)).status).toBe(401);
      const res = await fetch(`${url}/v1/backup`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(existsSync(join(cwd, 'var/rearguard.db'))).toBe(true);
      killGroup(p, 'SIGTERM');
      expect(await p.exited).toBe(0);
      expect(p.stdout.join('\n')).not.toContain(token);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('a bad config stops start-up with one line naming the field', async () => {
    const ws = new Workspace();
    workspaces.push(ws);
    const file = ws.writeConfig({ runs: { leaseSeconds: 'soon' } });
    const p = daemon({ env: { REARGUARD_CONFIG: file } });
    expect(await p.exited).toBe(2);
    expect(p.stderr).toHaveLength(1);
    expect(p.stderr[0]).toMatch(/^rearguard: invalid config .*: runs\.leaseSeconds: /);
  });

  test('REARGUARD_LISTEN overrides the listen address', async () => {
    const ws = new Workspace();
    workspaces.push(ws);
    const p = daemon({ env: { REARGUARD_CONFIG: ws.writeConfig({ log: { level: 'info' } }), REARGUARD_LISTEN: '127.0.0.2:0' } });
    expect(await p.url).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    killGroup(p, 'SIGTERM');
    expect(await p.exited).toBe(0);
  });
});

describe('one daemon per data dir', () => {
  test('a second daemon on it (other ports, the same ports, --help) changes nothing; the live backup succeeds', async () => {
    const { ws, env, process: first, url, c, run } = await heldBackup();

    const holds = new RegExp(
      `^rearguard: cannot start: another rearguardd \\(pid ${first.child.pid}\\) holds .*/var/rearguardd\\.lock$`,
    );
    for (const listen of ['127.0.0.1:0', new URL(url).host]) {
      const second = daemon({ env: { ...env, REARGUARD_LISTEN: listen } });
      expect(await second.exited).toBe(1);
      expect(second.stderr).toEqual([expect.stringMatching(holds)]);
    }
    const help = daemon({ env, args: ['--help'] });
    expect(await help.exited).toBe(0);
    expect(help.stdout[0]).toMatch(/^usage: rearguardd/);
    const typo = daemon({ env, args: ['--confg', 'x.yml'] });
    expect(await typo.exited).toBe(2);
    expect(typo.stderr[0]).toBe("rearguardd: Unknown option '--confg'");

    // The first daemon's run went on untouched: not interrupted, its services never restarted by another.
    expect((await c.json('GET', `/v1/runs/${run.run.id}`)).state).toBe('running');
    expect(existsSync(join(ws.staging, 'unquiesced'))).toBe(false);
    writeFileSync(join(ws.staging, `release-${run.run.id}`), '');
    const done = await waitForRun(c, run.run.id);
    expect(done.state).toBe('succeeded');
    expect(done.events.some((e: { phase: string }) => e.phase === 'recovery')).toBe(false);

    // Once the owner has stopped, the next daemon takes the data dir.
    killGroup(first, 'SIGTERM');
    expect(await first.exited).toBe(0);
    const next = daemon({ env, args: ['--config', env.REARGUARD_CONFIG] });
    await waitReady(await next.url);
    killGroup(next, 'SIGTERM');
    expect(await next.exited).toBe(0);
  });
});

describe('a daemon that dies mid-run', () => {
  test('SIGKILL during quiesce: the next start marks the run interrupted and restarts services first', async () => {
    const { ws, env, process: first, c: c1, run } = await heldBackup();
    expect(await processesWith(ws.dir)).not.toEqual([]);

    // The daemon's group only: the playbook's own group dies with the daemon, nothing else kills it.
    killGroup(first, 'SIGKILL');
    await first.exited;
    await expect.poll(() => processesWith(ws.dir), { timeout: 10_000, interval: 200 }).toEqual([]);

    const second = daemon({ env });
    const url = await second.url;
    await waitReady(url);
    const c2 = client(url);
    const after = await c2.json('GET', `/v1/runs/${run.run.id}`);
    expect(after.state).toBe('interrupted');
    expect(after.error).toContain('the daemon stopped during this run (while running');
    expect(after.events.some((e: { phase: string }) => e.phase === 'recovery')).toBe(true);
    expect(readFileSync(join(ws.staging, 'unquiesced'), 'utf8')).toContain(run.run.id);
    expect(existsSync(join(ws.staging, `quiesced-${run.run.id}-undercloud`))).toBe(false);
    expect((await c2.json('GET', `/v1/backup/${run.backup_ids[0]}`)).state).toBe('failed');
    expect((await c2.json('GET', '/v1/backup?state=transferring')).backups).toEqual([]);

    // Nothing is left live: a new run starts.
    ws.setHosts({ undercloud: { undercloud: {} } });
    const next = await c2.json('POST', '/v1/backup/undercloud', { status: 202 });
    expect((await waitForRun(c2, next.run.id)).state).toBe('succeeded');
    killGroup(second, 'SIGTERM');
    expect(await second.exited).toBe(0);
  });

  test('SIGTERM mid-run: the run is stopped, services restarted, then the daemon exits 0', async () => {
    const { ws, env, process: p, run } = await heldBackup();
    process.kill(p.child.pid!, 'SIGTERM');
    expect(await p.exited).toBe(0);
    // The unquiesce pass ran before the daemon exited, not at the next start.
    expect(readFileSync(join(ws.staging, 'unquiesced'), 'utf8')).toContain(run.run.id);

    const again = daemon({ env });
    const c2 = client(await again.url);
    const after = await c2.json('GET', `/v1/runs/${run.run.id}`);
    expect(after.state).toBe('interrupted');
    expect(after.error).toContain('shutdown');
    killGroup(again, 'SIGTERM');
    await again.exited;
  });

  test('SIGKILL during a restore: the next start ends it interrupted and serves none of its boot files', async () => {
    const mac = '52:54:00:ab:cd:1f';
    const ws = new Workspace({ undercloud: { undercloud: { fixture_macs: [mac] } } });
    workspaces.push(ws);
    const env = { REARGUARD_CONFIG: ws.writeConfig({ log: { level: 'info' } }) };
    const first = daemon({ env });
    const c1 = client(await first.url);
    const backup = await c1.json('POST', '/v1/backup/undercloud', { status: 202 });
    expect((await waitForRun(c1, backup.run.id)).state).toBe('succeeded');
    const { restore, run } = await c1.json('POST', `/v1/restore/${backup.backup_ids[0]}/undercloud`, { status: 202 });
    const config = join(ws.dir, 'var/tftp/pxelinux.cfg', `01-${mac.replaceAll(':', '-')}`);
    await waitForFile(config);

    killGroup(first, 'SIGKILL');
    await first.exited;
    expect(existsSync(config)).toBe(true);

    const second = daemon({ env });
    const c2 = client(await second.url);
    await waitReady(await second.url);
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(ws.dir, 'var/tftp/rearguard', restore.id))).toBe(false);
    const after = await c2.json('GET', `/v1/restore/${restore.id}`);
    expect(after.state).toBe('interrupted');
    expect(after.error).toContain('the daemon stopped during this restore');
    expect((await c2.json('GET', `/v1/runs/${run.id}`)).state).toBe('interrupted');
    // The node can be restored again.
    const again = await c2.json('POST', `/v1/restore/${backup.backup_ids[0]}/undercloud`, { status: 202 });
    await c2.json('POST', `/v1/runs/${again.run.id}/cancel`, { status: 202 });
    killGroup(second, 'SIGTERM');
    expect(await second.exited).toBe(0);
  });
});

/** Processes whose command line names the path: the playbook of a workspace's daemon and its workers. */
async function processesWith(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(path)) found.push(`${pid} ${cmdline.replaceAll('\0', ' ').trim()}`);
  }
  return found;
}
