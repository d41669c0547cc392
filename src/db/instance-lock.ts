import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';

/** Held by the one daemon that owns a data dir and database; released by `release()` or its death. */
export interface InstanceLock {
  release(): void;
}

/**
 * An exclusive lock per path, taken before the daemon reads or changes anything. Each is a
 * SQLite file held in an EXCLUSIVE transaction: an fcntl lock the kernel drops when the process
 * dies, however it dies, so a crashed daemon never leaves a stale lock and a second daemon can
 * never take over a live one's runs. Beside each lock, a pid file says who holds it.
 */
export function takeInstanceLocks(paths: string[]): InstanceLock {
  const held: InstanceLock[] = [];
  try {
    for (const path of [...new Set(paths.map((p) => resolve(p)))]) held.push(takeLock(path));
  } catch (err) {
    releaseAll(held);
    throw err;
  }
  return { release: () => releaseAll(held) };
}

/** Last taken, first released; each lock's release is idempotent. */
function releaseAll(held: InstanceLock[]): void {
  for (const lock of [...held].reverse()) lock.release();
}

function takeLock(path: string): InstanceLock {
  const pidFile = `${path}.pid`;
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    const pid = readPid(pidFile);
    throw new Error(`another rearguardd${pid ? ` (pid ${pid})` : ''} holds ${path}`);
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
  return {
    release() {
      if (!db.open) return;
      if (readPid(pidFile) === process.pid) rmSync(pidFile, { force: true });
      db.close();
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}
