import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const CACHE = process.env.REARGUARD_LAB_CACHE ?? '/var/cache/rearguard-lab';
const PLAYBOOKS = resolve(import.meta.dirname, '../../playbooks');

/**
 * A real backup kept between test runs: the daemon's data dir (its records) and its storage dir,
 * as they were when the backup run ended, plus what the test knew of the node then. A backup of a
 * VM under software emulation takes ~10 minutes, most of it `rear mkbackup`; the tests that only
 * restore it take it from here. The key covers what makes the backup: the node's image, every
 * playbook and role, and the backup settings; change one and the next run backs up again, through
 * the API, and stores the result.
 */
export interface CachedBackup<T> {
  key: string;
  /** Copies a stored backup into place; null when none is stored under this key. */
  load(to: { dataDir: string; storage: string }): Promise<T | null>;
  /** Stores the daemon's data dir (its database through SQLite's online backup: whole while the daemon runs) and storage. */
  save(from: { dataDir: string; database: string; storage: string }, meta: T): Promise<void>;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export async function cachedBackup<T>(name: string, inputs: unknown): Promise<CachedBackup<T>> {
  const hash = createHash('sha256').update(JSON.stringify(inputs));
  for (const file of await filesUnder(PLAYBOOKS)) hash.update(relative(PLAYBOOKS, file)).update(await readFile(file));
  const key = hash.digest('hex').slice(0, 16);
  const dir = join(CACHE, `${name}-${key}`);
  return {
    key,
    async load(to) {
      if (!existsSync(join(dir, 'meta.json'))) return null;
      await cp(join(dir, 'data'), to.dataDir, { recursive: true });
      await cp(join(dir, 'storage'), to.storage, { recursive: true });
      return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as T;
    },
    async save(from, meta) {
      const partial = `${dir}.partial.${process.pid}`;
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      // Locks and boot files belong to the daemon that made them, not to the backup; the database is copied whole below.
      const db = resolve(from.database);
      await cp(from.dataDir, join(partial, 'data'), {
        recursive: true,
        filter: (src) => !/\.lock$|\/tftp(\/|$)/.test(src) && !resolve(src).startsWith(db),
      });
      const source = new Database(db, { readonly: true, fileMustExist: true });
      try {
        await source.backup(join(partial, 'data', relative(resolve(from.dataDir), db)));
      } finally {
        source.close();
      }
      await cp(from.storage, join(partial, 'storage'), { recursive: true });
      await writeFile(join(partial, 'meta.json'), JSON.stringify(meta));
      await rm(dir, { recursive: true, force: true });
      await rename(partial, dir);
      // Backups made under other keys are of a setup that no longer exists.
      for (const old of await readdir(CACHE)) {
        if (old.startsWith(`${name}-`) && join(CACHE, old) !== dir && !old.includes('.partial.')) {
          await rm(join(CACHE, old), { recursive: true, force: true });
        }
      }
    },
  };
}
