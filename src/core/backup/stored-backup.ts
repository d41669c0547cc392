import type { Backup } from '../model.ts';
import type { Storage } from '../ports.ts';

/** Each backup owns an immutable prefix; nothing else is ever written under it. */
export function storagePrefix(backup: Pick<Backup, 'target' | 'node' | 'id'>): string {
  return `${backup.target}/${backup.node}/${backup.id}/`;
}

export async function removeStoredBackup(storage: Storage, backup: Pick<Backup, 'target' | 'node' | 'id'>): Promise<void> {
  for (const object of await storage.list(storagePrefix(backup))) await storage.delete(object.key);
}
