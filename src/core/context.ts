import type { Target } from './model.ts';
import type { ArtefactCipher, Clock, Inventory, Logger, NodeAccess, PlaybookRunner, Records, Storage } from './ports.ts';
import type { RunJournal } from './run-journal.ts';

export interface BackupSettings {
  stagingDir: string;
  services: string[];
  serviceManager: string;
  mysqldump: string;
  rear: Record<string, string | string[]>;
  rearCommand: string;
}

/** Everything the domain services need, wired once in main. */
export interface CoreContext {
  records: Records;
  journal: RunJournal;
  storage: Storage;
  /** Set when backups are encrypted at rest. */
  cipher?: ArtefactCipher;
  inventory: Inventory;
  nodes: NodeAccess;
  playbooks: PlaybookRunner;
  clock: Clock;
  log: Logger;
  /** Identifies this daemon process in run leases. */
  instanceId: string;
  targets: Record<Target, { group: string }>;
  backup: BackupSettings;
  leaseMs: number;
  transfer: { concurrentNodes: number };
}
