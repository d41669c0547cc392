import { spawn, type ChildProcess } from 'node:child_process';
import { readlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runPlaybook, type PlaybookEvent } from '../../src/ansible/playbook-run.ts';
import { startLab, type Lab, type LabNode } from '../harness/lab.ts';
import { mariadbRunning, stopMariadb } from '../harness/mariadb.ts';
import { labRearSettings } from '../harness/rear.ts';

const BACKUP = fileURLToPath(new URL('../../playbooks/backup.yml', import.meta.url));
const UNQUIESCE = fileURLToPath(new URL('../../playbooks/unquiesce.yml', import.meta.url));

/**
 * A `rear` that outlived its run (issue 15): preflight refuses a node where one runs, and
 * unquiesce.yml stops the run's own before it starts any service. No real ReaR: a stale rear is
 * a `sleep` (or a bash loop) whose argv looks like ReaR's (`bash -c 'exec -a "<rear argv>" …'`).
 *
 * Two nodes, because the playbooks must only ever see and stop the rear of the node they run on,
 * and a third kind of process: one in node-0's pid namespace but outside its root, with the very
 * same command line (what pgrep on a host with containers or chroots lists). Its `/proc/PID/root`
 * is not the node's `/`, so neither preflight nor the stop counts it.
 */
let lab: Lab;
let node: LabNode;
let other: LabNode;
let rearSettings: Record<string, string | string[]>;
const foreign: ChildProcess[] = [];

beforeAll(async () => {
  lab = await startLab({ nodes: 2, withRoot: true, mariadb: true });
  [node, other] = [lab.nodes[0]!, lab.nodes[1]!];
  rearSettings = await labRearSettings(node);
}, 600_000);

afterEach(async () => {
  for (const p of foreign.splice(0)) if (p.pid) process.kill(-p.pid, 'SIGKILL');
  for (const n of lab.nodes) await n.exec(`pkill -KILL -f 'rear-confi[g] mkbackup|/usr/sbin/rea[r] -v mkbackup'; rm -f /root/rear-stopped`);
});

afterAll(async () => {
  await lab?.stop();
}, 60_000);

const rearArgv = (n: LabNode, backupId: string) => `/usr/sbin/rear -c ${n.stagingDir}/${backupId}/rear-config mkbackup`;

let scripts = 0;

/** Starts a fake rear inside the node (its pid namespace and root), returns its pid there. */
async function fakeRear(n: LabNode, argv0: string, body = 'sleep 600'): Promise<number> {
  // A script on the node's tree (its /tmp is a tmpfs the host does not see).
  const script = `/root/fake-rear-${++scripts}.sh`;
  await writeFile(`${n.root}${script}`, `exec -a "${argv0}" ${body}\n`);
  const r = await n.exec(`setsid bash ${script} </dev/null >/dev/null 2>&1 & echo $!`);
  if (r.exitCode !== 0) throw new Error(`${n.name}: fake rear: ${r.stderr}`);
  const pid = Number(r.stdout.trim());
  // Until bash has exec'd, its command line is not rear's yet.
  for (let i = 0; i < 50; i++) {
    if ((await n.exec(`tr '\\0' ' ' < /proc/${pid}/cmdline`)).stdout.startsWith(argv0)) return pid;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${n.name}: fake rear ${pid} did not start`);
}

/** The host pid of the node's init (its sshd), whose root is the node's tree. */
async function nodeInitPid(n: LabNode): Promise<number> {
  const { stdout } = await execa('pgrep', ['-f', 'sshd_config.lab'], { reject: false });
  for (const pid of stdout.split('\n').filter(Boolean)) {
    if ((await readlink(`/proc/${pid}/root`).catch(() => '')) === n.root) return Number(pid);
  }
  throw new Error(`${n.name}: init not found`);
}

/**
 * The same argv in the node's pid namespace, but with the host's root: pgrep inside the node
 * lists it, and it is not the node's.
 */
async function foreignRear(n: LabNode, argv0: string, pattern: string): Promise<void> {
  const before = (await alive(n, pattern)).length;
  const p = spawn('nsenter', ['-t', String(await nodeInitPid(n)), '-p', '--', 'bash', '-c', `exec -a "${argv0}" sleep 600`], {
    detached: true,
    stdio: 'ignore',
  });
  foreign.push(p);
  for (let i = 0; i < 50; i++) {
    if ((await alive(n, pattern)).length > before) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${n.name}: foreign rear did not start`);
}

async function alive(n: LabNode, pattern: string): Promise<string[]> {
  return (await n.exec(`pgrep -f -- '${pattern}' || true`)).stdout.split('\n').filter(Boolean);
}

function run(playbook: string, runId: string, backupId: string, extra: Record<string, unknown> = {}) {
  const events: PlaybookEvent[] = [];
  return runPlaybook({
    playbook,
    inventory: lab.inventoryFile,
    extraVars: {
      rearguard_hosts: node.name,
      rearguard_run_id: runId,
      rearguard_staging_dir: node.stagingDir,
      rearguard_backups: { [node.name]: backupId },
      rearguard_services: ['mariadb'],
      rearguard_service_manager: 'sysvinit',
      rearguard_rear_settings: rearSettings,
      ...extra,
    },
    onEvent: (e) => events.push(e),
  }).then((r) => ({ ...r, events }));
}

describe('a rear that is not this run’s', () => {
  it('preflight refuses the node, naming the rears, and stops nothing', { timeout: 180_000 }, async () => {
    const stale = await fakeRear(node, rearArgv(node, 'bk_old'));
    const operators = await fakeRear(node, '/bin/bash /usr/sbin/rear -v mkbackup');
    await foreignRear(node, rearArgv(node, 'bk_old'), 'bk_ol[d]/rear-config');
    expect(await alive(node, 'bk_ol[d]/rear-config')).toHaveLength(2); // the node's and the foreign one

    const r = await run(BACKUP, 'run_new', 'bk_new');
    expect(r.exitCode).not.toBe(0);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]?.task).toBe('preflight: no other rear runs on the node');
    const message = r.failures[0]?.message ?? '';
    console.log('preflight:', message);
    expect(message).toContain(`${node.name} is already running rear: pid ${stale} (${rearArgv(node, 'bk_old')} 600)`);
    expect(message).toContain(`pid ${operators} (/bin/bash /usr/sbin/rear -v mkbackup 600)`);
    // Only the node's own two: the process outside its root is not listed.
    expect(message.match(/pid \d+/g)).toHaveLength(2);
    expect(message).toContain('The rear of rearguard backup bk_old was left by a run that did not end');
    expect(message).toMatch(/Wait until it has finished, or stop it/);
    expect(message).toContain('Nothing was stopped');

    expect(r.events.some((e) => e.type === 'task_start' && e.task.startsWith('quiesce:'))).toBe(false);
    expect(await mariadbRunning(node)).toBe(true);
    expect(await alive(node, 'bk_ol[d]/rear-config')).toHaveLength(2);
    expect((await node.exec(`test -e ${node.stagingDir}/bk_new`)).exitCode).not.toBe(0);
  });
});

describe('unquiesce.yml with the run’s rear still running', () => {
  it('stops it before starting the services, and no other node’s or root’s rear', { timeout: 180_000 }, async () => {
    await stopMariadb(node);
    const record = JSON.stringify({ run_id: 'run_stale', backup_id: 'bk_stale', service_manager: 'sysvinit', services: ['mariadb'] });
    await node.exec(`printf '%s' '${record}' > ${node.stagingDir}/run-run_stale.quiesced.json`);
    // The fake rear notes, when it is told to stop, whether MariaDB answers.
    const body = `bash -c 'trap "mysqladmin --connect-timeout=2 ping >/dev/null 2>&1; echo mariadb=\\$? > /root/rear-stopped; exit 143" TERM; while :; do sleep 0.2; done'`;
    await fakeRear(node, rearArgv(node, 'bk_stale'), body);
    await foreignRear(node, rearArgv(node, 'bk_stale'), 'bk_stal[e]/rear-config');
    const otherPid = await fakeRear(other, rearArgv(other, 'bk_stale'));
    expect(await alive(node, 'bk_stal[e]/rear-config')).toHaveLength(2);

    const r = await run(UNQUIESCE, 'run_stale', 'bk_stale');
    expect(r.exitCode).toBe(0);
    const index = (pred: (e: PlaybookEvent) => boolean) => r.events.findIndex(pred);
    const stopped = index((e) => e.type === 'host_ok' && e.task === 'cleanup: stop a rear still running for this backup' && e.changed === true);
    const starts = index((e) => e.type === 'task_start' && e.task === 'unquiesce: start services');
    expect(stopped).toBeGreaterThanOrEqual(0);
    expect(starts).toBeGreaterThan(stopped);
    // When it got SIGTERM, MariaDB was still down (mysqladmin ping failed).
    expect((await node.exec('cat /root/rear-stopped')).stdout.trim()).toBe('mariadb=1');
    expect(await mariadbRunning(node)).toBe(true);

    // Gone from the node; the process outside the node's root and the other node's rear run on.
    const left = await alive(node, 'bk_stal[e]/rear-config');
    expect(left).toHaveLength(1);
    expect(await alive(other, 'bk_stal[e]/rear-config')).toEqual([String(otherPid)]);

    // A second pass finds nothing of this node's to stop.
    const again = await run(UNQUIESCE, 'run_stale', 'bk_stale');
    expect(again.exitCode).toBe(0);
    expect(again.events.some((e) => e.type === 'host_ok' && e.task.startsWith('cleanup:') && e.changed)).toBe(false);
    expect(await alive(node, 'bk_stal[e]/rear-config')).toEqual(left);
  });
});
