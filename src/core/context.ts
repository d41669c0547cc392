import type { Target } from './model.ts';
import type {
  ArtefactCipher,
  ArtefactDecipher,
  BackupAgent,
  BootStaging,
  Clock,
  Inventory,
  Logger,
  NodeAccess,
  PowerDriver,
  Records,
  Storage,
} from './ports.ts';
import type { RunJournal } from './runs/run-journal.ts';

export interface RestoreSettings {
  /** How booting nodes and their rescue system reach this daemon's HTTP server. */
  httpUrl: string;
  kernelArgs: string;
  /** Per phase: power-on to initrd fetched, to rescue booted, to recover finished. */
  timeoutsMs: { boot: number; rescue: number; recover: number };
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
  agent: BackupAgent;
  clock: Clock;
  log: Logger;
  /** Identifies this daemon process in run leases. */
  instanceId: string;
  targets: Record<Target, { group: string }>;
  leaseMs: number;
  transfer: { concurrentNodes: number };
  /** Set when the operator gave the daemon identities to restore encrypted backups with. */
  decipher?: ArtefactDecipher;
  boot: BootStaging;
  power: PowerDriver;
  restore: RestoreSettings;
}
