import { writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { killGroup, spawnDaemon, waitReady, type DaemonProcess } from '../harness/daemon-process.ts';
import { labDaemonConfig, startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { mariadbRunning, writeTestRow } from '../harness/mariadb.ts';
import { labRearSettings } from '../harness/rear.ts';
import { client, startTestDaemon, waitForRun, Workspace, type Client } from '../harness/test-daemon.ts';

/**
 * Overcloud backups on a lab of 3 controllers, each a real sshd node with its own Debian root and
 * MariaDB: the daemon's HTTP API, real ansible-playbook, real `rear mkbackup`. One lab for the
 * file; a probe polls every node's MariaDB throughout each run.
 */

let lab: Lab;
let rear: Record<string, string | string[]>;
const workspaces: Workspace[] = [];
const daemons: Array<{ stop(): Promise<void> }> = [];
const processes: DaemonProcess[] = [];

const FAILING_REAR = '/usr/local/bin/failing-rear';

beforeAll(async () => {
  lab = await startLab({ nodes: 3, withRoot: true, groups: ['Controller', 'Controller', 'Controller'] });
  rear = await labRearSettings(lab.nodes[0]!);
  // Fails after a while, as a real rear would mid-run, so its image phase overlaps the others'.
  for (const n of lab.nodes) {
    writeFileSync(
      join(n.root, FAILING_REAR.slice(1)),
      '#!/bin/sh\n[ "$1" = -V ] && exit 0\nsleep 3\necho "ERROR: simulated ReaR failure on $(hostname)" >&2\nexit 1\n',
      { mode: 0o755 },
    );
  }
});
afterAll(async () => {
  for (const p of processes) killGroup(p, 'SIGKILL');
  for (const d of daemons) await d.stop();
  await lab?.stop();
  for (const ws of workspaces) ws.remove();
});

/** The lab's inventory with extra lines for some hosts, and extra hosts. */
async function inventory(name: string, hostVars: Record<string, string> = {}, extraHosts: string[] = []): Promise<string> {
  let text = await readFile(lab.inventoryFile, 'utf8');
  for (const [host, vars] of Object.entries(hostVars)) text = text.replace(new RegExp(`^(${host} .*)$`, 'm'), `$1 ${vars}`);
  text = text.replace('[Controller]\n', `[Controller]\n${extraHosts.map((h) => `${h}\n`).join('')}`);
  const file = join(lab.dir, `${name}.ini`);
  writeFileSync(file, text);
  return file;
}

const daemonConfig = (inventoryFile: string) => labDaemonConfig(inventoryFile, rear);

async function daemonFor(inventoryFile: string) {
  const ws = new Workspace();
  workspaces.push(ws);
  const d = await startTestDaemon(ws, daemonConfig(inventoryFile));
  daemons.push(d);
  return d;
}

interface Sample {
  at: number;
  up: boolean[];
}

/** Polls every node's MariaDB throughout a run. */
function probe(nodes: LabNode[]) {
  const samples: Sample[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      const up = await Promise.all(nodes.map(mariadbRunning));
      samples.push({ at: Date.now(), up });
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return samples;
    },
  };
}

const downCount = (s: Sample) => s.up.filter((u) => !u).length;

interface Event {
  at: string;
  phase: string;
  host: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

/** Each host's image phase as [start, end] (ms), from the run's recorded events. */
function imageWindows(events: Event[]): Map<string, [number, number]> {
  const windows = new Map<string, [number, number]>();
  for (const e of events) {
    const mark = e.data?.image;
    if (!e.host || !mark) continue;
    const w = windows.get(e.host) ?? [NaN, NaN];
    w[mark === 'started' ? 0 : 1] = Date.parse(e.at);
    windows.set(e.host, w);
  }
  return windows;
}

async function dumpOf(locationUrl: string): Promise<string> {
  const r = await execa(
    'tar',
    ['-xzOf', join(fileURLToPath(locationUrl), 'backup.tar.gz'), '--wildcards', '*all-databases.sql'],
    {
      maxBuffer: 256 << 20,
    },
  );
  return r.stdout;
}

async function expectAllUp(): Promise<void> {
  expect(await Promise.all(lab.nodes.map(mariadbRunning))).toEqual([true, true, true]);
}

describe('POST /v1/backup/overcloud on 3 controllers', () => {
  // Its own run: an inventory with a dead host.
  test('preflight: an unreachable controller fails the run with host and reason, nothing stopped anywhere', async () => {
    const inv = await inventory('unreachable', {}, [`controller-3 ansible_host=${lab.deadAddress}`]);
    const d = await daemonFor(inv);
    const watch = probe(lab.nodes);
    const started = await d.json('POST', '/v1/backup/overcloud?stopall=yes', { status: 202 });
    expect(started.backup_ids).toHaveLength(4);
    const run = await waitForRun(d, started.run.id, 300_000);
    const samples = await watch.stop();

    expect(run.state).toBe('failed');
    expect(run.error).toMatch(/^preflight failed on controller-3: .*unreachable.*nothing was stopped on any host$/s);
    expect(samples.every((s) => downCount(s) === 0)).toBe(true);
    expect(run.events.some((e: Event) => e.phase === 'quiesce')).toBe(false);
    for (const id of started.backup_ids) {
      const b = await d.json('GET', `/v1/backup/${id}`);
      expect(b.state).toBe('failed');
      expect(b.error).toMatch(b.node === 'controller-3' ? /unreachable/ : /not started: preflight failed on controller-3/);
    }
    await expectAllUp();
  }, 300_000);

  // One run per mode, taken once: every test below only reads its outcome.
  describe('stopall=no: one controller at a time, a node whose rear fails does not stop the others', () => {
    let d: Awaited<ReturnType<typeof daemonFor>>;
    let run: { state: string; error: string | null; events: Event[] };
    let samples: Sample[];
    let byNode: Record<string, { state: string; error: string | null; location_url: string }>;

    beforeAll(async () => {
      const inv = await inventory('rolling', { 'controller-1': `rearguard_node_rear_command=${FAILING_REAR}` });
      d = await daemonFor(inv);
      for (const n of lab.nodes) await writeTestRow(n, `rolling-${n.name}`);
      const watch = probe(lab.nodes);
      const started = await d.json('POST', '/v1/backup/overcloud?stopall=no', { status: 202 });
      run = await waitForRun(d, started.run.id, 900_000);
      samples = await watch.stop();
      const backups = await Promise.all(started.backup_ids.map((id: string) => d.json('GET', `/v1/backup/${id}`)));
      byNode = Object.fromEntries(backups.map((b) => [b.node, b]));
    }, 900_000);

    test('never two controllers down at once; each was down at some point, all up at the end', async () => {
      expect(Math.max(...samples.map(downCount))).toBe(1);
      for (const i of [0, 1, 2])
        expect(
          samples.some((s) => !s.up[i]),
          `controller-${i} was stopped`,
        ).toBe(true);
      await expectAllUp();
    });

    test("the run is partially_failed with the failed node's rear message", () => {
      expect(run.state).toBe('partially_failed');
      expect(run.error).toContain('controller-1: image: rear mkbackup');
      expect(run.error).toContain('simulated ReaR failure on controller-1');
      expect(byNode['controller-1']!.state).toBe('failed');
      expect(byNode['controller-1']!.error).toContain('simulated ReaR failure');
    });

    test('the other controllers have available backups holding their own consistent dump', async () => {
      for (const name of ['controller-0', 'controller-2']) {
        expect(byNode[name]!.state).toBe('available');
        expect(await dumpOf(byNode[name]!.location_url)).toContain(`rolling-${name}`);
      }
    });

    test('controllers are imaged strictly one after the other, in inventory order', () => {
      const windows = [...imageWindows(run.events).entries()].sort((a, b) => a[1][0] - b[1][0]);
      expect(windows.map(([h]) => h)).toEqual(['controller-0', 'controller-1', 'controller-2']);
      for (let i = 1; i < windows.length; i++) expect(windows[i]![1][0]).toBeGreaterThan(windows[i - 1]![1][1]);
    });

    test('the nodes are on record with their addresses and MACs', async () => {
      const { nodes } = await d.json('GET', '/v1/nodes?target=overcloud');
      expect(nodes.map((n: { name: string }) => n.name)).toEqual(['controller-0', 'controller-1', 'controller-2']);
      for (const n of nodes) expect(n.address).toBe(lab.nodes.find((x) => x.name === n.name)!.address);
      expect(nodes[0].macs).toEqual([expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/)]);
    });
  });

  describe('stopall=yes: every controller down together, imaged in parallel, all up again, 3 backups', () => {
    let d: Awaited<ReturnType<typeof daemonFor>>;
    let run: { state: string; error: string | null; events: Event[] };
    let samples: Sample[];
    let backupIds: string[];

    beforeAll(async () => {
      d = await daemonFor(lab.inventoryFile);
      for (const n of lab.nodes) await writeTestRow(n, `stopall-${n.name}`);
      const watch = probe(lab.nodes);
      const started = await d.json('POST', '/v1/backup/overcloud?stopall=yes', { status: 202 });
      backupIds = started.backup_ids;
      run = await waitForRun(d, started.run.id, 900_000);
      samples = await watch.stop();
    }, 900_000);

    test('the run succeeded', () => {
      expect(run.error).toBeNull();
      expect(run.state).toBe('succeeded');
    });

    test('all three were down together, and all are up again', async () => {
      expect(samples.some((s) => downCount(s) === 3)).toBe(true);
      expect(downCount(samples.at(-1)!)).toBe(0);
      await expectAllUp();
    });

    test('the three images were made at the same time', () => {
      const windows = [...imageWindows(run.events).values()];
      expect(windows).toHaveLength(3);
      expect(Math.max(...windows.map((w) => w[0]))).toBeLessThan(Math.min(...windows.map((w) => w[1])));
    });

    test("each backup is available and holds its node's dump", async () => {
      for (const id of backupIds) {
        const b = await d.json('GET', `/v1/backup/${id}`);
        expect(b.state).toBe('available');
        expect(await dumpOf(b.location_url)).toContain(`stopall-${b.node}`);
      }
    });
  });

  // Its own run: the daemon is killed mid-run, so no other test can read this one's outcome.
  test('SIGKILL during quiesce: the restarted daemon brings services back and marks the run interrupted', async () => {
    const ws = new Workspace();
    workspaces.push(ws);
    const env = { REARGUARD_CONFIG: ws.writeConfig({ ...daemonConfig(lab.inventoryFile), log: { level: 'info' } }) };
    const first = spawnDaemon({ env });
    processes.push(first);
    const c1 = client(await first.url);
    const started = await c1.json('POST', '/v1/backup/overcloud?stopall=yes', { status: 202 });
    await waitForEvent(c1, started.run.id, (e) => e.message === 'ok: quiesce: stop services');

    // The daemon's process group only: the playbook's own group (ansible, its workers, their ssh
    // sessions to the nodes) must die with the daemon, with nothing else to kill it.
    const ansible = await childProcessGroups(first.child.pid!);
    expect(ansible).not.toEqual([]);
    killGroup(first, 'SIGKILL');
    await first.exited;
    const alive = async () => (await Promise.all(ansible.map(groupAlive))).filter(Boolean);
    await expect.poll(alive, { timeout: 10_000, interval: 200 }).toEqual([]);
    expect((await Promise.all(lab.nodes.map(mariadbRunning))).includes(false)).toBe(true);

    const second = spawnDaemon({ env });
    processes.push(second);
    const url = await second.url;
    await waitReady(url, 300_000);
    const c2 = client(url);
    await expectAllUp();
    const run = await c2.json('GET', `/v1/runs/${started.run.id}`);
    expect(run.state).toBe('interrupted');
    expect(run.events.some((e: Event) => e.phase === 'recovery')).toBe(true);
    expect(run.events.some((e: Event) => e.message === 'services are running again on every host')).toBe(true);
    for (const id of started.backup_ids) expect((await c2.json('GET', `/v1/backup/${id}`)).state).toBe('failed');
    expect((await c2.json('GET', '/v1/backup?state=pending')).backups).toEqual([]);
    killGroup(second, 'SIGTERM');
    expect(await second.exited).toBe(0);
  }, 300_000);
});

async function waitForEvent(c: Client, runId: string, match: (e: Event) => boolean, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let after = 0;
  for (;;) {
    const { events } = await c.json<{ events: Array<Event & { seq: number }> }>('GET', `/v1/runs/${runId}/events?after=${after}`);
    if (events.some(match)) return;
    after = events.at(-1)?.seq ?? after;
    if (Date.now() > until) throw new Error(`no matching event in run ${runId} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Process groups led by children of `pid` (the runner starts ansible-playbook in its own group). */
async function childProcessGroups(pid: number): Promise<number[]> {
  const groups: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`)) {
    const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    for (const child of children.split(/\s+/).filter(Boolean).map(Number)) {
      const stat = await readFile(`/proc/${child}/stat`, 'utf8').catch(() => '');
      // Field 5 (pgrp), after the parenthesised command name.
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp === child) groups.push(child);
    }
  }
  return groups;
}

/** Whether a process group has a live member (a zombie no one reaps does not count). */
async function groupAlive(pgid: number): Promise<boolean> {
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // After the parenthesised command name: state (field 3), ppid, pgrp (field 5).
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}
