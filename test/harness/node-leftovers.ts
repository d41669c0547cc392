import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { LabNode } from './lab-node.ts';
import { mariadbRunning } from './mariadb.ts';

export interface Leftover {
  kind: string;
  what: string;
}

/**
 * What a backup run may leave on an own-root lab node once no run is live: services down, a
 * `rear` still running, staging entries, ReaR's work dirs, extra mounts on the staging dir.
 * Each leftover names its kind and path, so that a soak can print and count them.
 */
export async function nodeLeftovers(node: LabNode): Promise<Leftover[]> {
  const found: Leftover[] = [];
  const add = (kind: string, what: string) => found.push({ kind, what: `${node.name}: ${what}` });
  if (!(await mariadbRunning(node))) add('service down', 'mariadb');
  for (const p of await rearProcesses(node.root)) add('rear process', p);
  // Seen from the host: every entry is a backup's staging dir or a run's record. Once no run is
  // live nothing may remain, since a transferred backup's dir is removed too.
  for (const entry of await readdir(node.stagingOnHost).catch(() => [])) add('staging entry', join(node.stagingDir, entry));
  for (const entry of await readdir(join(node.root, 'var/tmp')).catch(() => []))
    if (entry.startsWith('rear.')) add('rear work dir', `/var/tmp/${entry}`);
  for (const m of await stagingMounts(node)) add('staging mount', m);
  return found;
}

/**
 * `rear` processes of the node: the chroot makes them visible from the host with the node's tree
 * as their root. ReaR is a bash script, so it is an argument of bash, not the command itself.
 */
async function rearProcesses(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const procRoot = await readlink(`/proc/${pid}/root`).catch(() => '');
    if (procRoot !== root) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (!stat || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
    if (argv.slice(0, 2).some((a) => basename(a) === 'rear')) found.push(`${pid} ${argv.join(' ')}`);
  }
  return found;
}

/**
 * Mounts at or under the staging dir beyond the one the lab gives it (a run's bind mount, or
 * something ReaR mounted in its work dir), as the node's own mount namespace lists them.
 */
async function stagingMounts(node: LabNode): Promise<string[]> {
  const r = await node.exec('cat /proc/self/mountinfo');
  if (r.exitCode !== 0) return [`mountinfo unreadable: ${r.stderr}`];
  const points = r.stdout
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => p === node.stagingDir || p.startsWith(`${node.stagingDir}/`));
  // The first one is the lab's own mount of the staging dir.
  return points.slice(1);
}
