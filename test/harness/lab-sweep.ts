import { execa } from 'execa';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeNet } from './lab-net.ts';

/**
 * Labs whose test process was killed (timeout, SIGKILL) never ran stop(). Their processes die
 * with them (pdeathsig), but namespaces, bridge and trees stay: each lab records what it made,
 * and the next startLab removes the leftovers of labs whose owner process is gone.
 */

export const LAB_PARENT = '/var/tmp';
export const LAB_PREFIX = 'rearguard-lab-';
const RECORD = 'lab.json';

interface LabRecord {
  pid: number;
  bridge: string;
  netns: string[];
}

export async function recordLab(dir: string, record: Omit<LabRecord, 'pid'>): Promise<void> {
  await writeFile(join(dir, RECORD), JSON.stringify({ pid: process.pid, ...record }));
}

export async function removeLabResources(dir: string, record: Omit<LabRecord, 'pid'> | undefined): Promise<void> {
  if (record) await removeNet(record.bridge, record.netns);
  // --one-file-system: never follow a mount that somehow outlived its node into the host.
  await execa('rm', ['-rf', '--one-file-system', dir], { reject: false });
}

export async function sweepStaleLabs(): Promise<void> {
  const entries = await readdir(LAB_PARENT).catch(() => []);
  for (const name of entries.filter((e) => e.startsWith(LAB_PREFIX))) {
    const dir = join(LAB_PARENT, name);
    const record = await readFile(join(dir, RECORD), 'utf8').then(
      (text) => JSON.parse(text) as LabRecord,
      () => undefined,
    );
    // Labs without a record are still starting (or predate records): leave them alone.
    if (record && !alive(record.pid)) await removeLabResources(dir, record);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
