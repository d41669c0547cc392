import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ExtraVarsFile {
  /** Pass to ansible-playbook as `-e @<path>`. */
  path: string;
  /** Removes the file and its private directory; safe to call twice. */
  remove(): Promise<void>;
}

/**
 * Writes extra vars to a file only root can read, so that nothing secret ever appears on a
 * command line (visible to every local user in /proc/<pid>/cmdline) or in a log.
 */
export async function writeExtraVarsFile(vars: Record<string, unknown>, parent = tmpdir()): Promise<ExtraVarsFile> {
  const dir = await mkdtemp(join(parent, 'rearguard-vars-'));
  const path = join(dir, 'extra-vars.json');
  await writeFile(path, JSON.stringify(vars), { mode: 0o600, flag: 'wx' });
  return { path, remove: () => rm(dir, { recursive: true, force: true }) };
}
