import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { BackupManifest } from '../../src/core/model.ts';
import type { Leftover } from './node-leftovers.ts';

/**
 * What the records may hold that is untrue once recovery is done and no run is live: runs still
 * queued or running, backups or restores still in progress, node locks, runs whose services may
 * still be stopped, and `available` backups whose objects in file:// storage are missing or do
 * not match their manifest. Read from the daemon's SQLite file (read-only, beside the daemon):
 * the API has no list of runs.
 */
export async function recordLeftovers(databaseFile: string): Promise<Leftover[]> {
  const db = new Database(databaseFile, { readonly: true, fileMustExist: true });
  try {
    const found: Leftover[] = [];
    const add = (kind: string, what: string) => found.push({ kind, what });
    const rows = (sql: string) => db.prepare(sql).all() as Array<Record<string, string>>;
    for (const r of rows("SELECT id, kind, state FROM runs WHERE state IN ('queued', 'running')"))
      add('live run', `run ${r.id} (${r.kind}) left ${r.state}`);
    for (const r of rows('SELECT id, state FROM runs WHERE quiesce_open = 1'))
      add('open quiesce', `run ${r.id} (${r.state}) may have left services stopped`);
    for (const r of rows("SELECT id, node, state FROM backups WHERE state IN ('pending', 'transferring', 'deleting')"))
      add('unsettled backup', `backup ${r.id} of ${r.node} left ${r.state}`);
    for (const r of rows("SELECT id, node, state FROM restores WHERE state IN ('queued', 'running')"))
      add('live restore', `restore ${r.id} of ${r.node} left ${r.state}`);
    for (const r of rows('SELECT node, run_id FROM node_locks'))
      add('node lock', `node ${r.node} still locked by run ${r.run_id}`);
    for (const b of rows("SELECT id, location_url, manifest FROM backups WHERE state = 'available'"))
      for (const problem of await storedObjectProblems(b.location_url!, JSON.parse(b.manifest!) as BackupManifest))
        add('bad stored object', `available backup ${b.id}: ${problem}`);
    return found;
  } finally {
    db.close();
  }
}

/** Each artefact as storage holds it (the ciphertext of an encrypted backup) against the manifest. */
async function storedObjectProblems(locationUrl: string, manifest: BackupManifest): Promise<string[]> {
  const problems: string[] = [];
  for (const a of manifest.artefacts) {
    const path = join(fileURLToPath(locationUrl), a.name);
    const size = await stat(path).then(
      (s) => s.size,
      () => null,
    );
    if (size === null) {
      problems.push(`${a.name} missing at ${path}`);
      continue;
    }
    const expected = { size: a.stored_size ?? a.size, sha256: a.stored_sha256 ?? a.sha256 };
    if (size !== expected.size) problems.push(`${a.name} is ${size} bytes, its manifest says ${expected.size}`);
    else if ((await sha256(path)) !== expected.sha256) problems.push(`${a.name} does not match its manifest's sha256`);
  }
  return problems;
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
