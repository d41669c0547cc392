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
  /** Per phase: power-on to initrd fetched, to rescue booted, to recover finished, to the node answering from its own disk. */
  timeoutsMs: { boot: number; rescue: number; recover: number; diskBoot: number };
  /** How often to try the restored node's sshd while it boots from its disk. */
  diskBootPollMs: number;
}

/** What every use case that reads or writes records gets: the records, their journal, the time, and who this daemon is. */
export interface RecordsContext {
  records: Records;
  journal: RunJournal;
  clock: Clock;
  log: Logger;
  /** Identifies this daemon process in run leases. */
  instanceId: string;
  leaseMs: number;
}

/** The targets' inventory groups, and where their hosts are read from. */
export interface TargetsContext {
  inventory: Inventory;
  targets: Record<Target, { group: string }>;
}

/** What making, storing and deleting backups needs. */
export interface BackupContext extends RecordsContext, TargetsContext {
  storage: Storage;
  /** Set when backups are encrypted at rest. */
  cipher?: ArtefactCipher;
  nodes: NodeAccess;
  agent: BackupAgent;
  transfer: { concurrentNodes: number };
}

/** What restoring a node needs. */
export interface RestoreContext extends RecordsContext, TargetsContext {
  storage: Storage;
  /** Set when the operator gave the daemon identities to restore encrypted backups with. */
  decipher?: ArtefactDecipher;
  /** Where the rescue system finds the archive on the node (the backup agent's image dir). */
  agent: Pick<BackupAgent, 'imageDir'>;
  boot: BootStaging;
  power: PowerDriver;
  /** Reaches the restored node to prove it booted from its disk with its own host key. */
  nodes: NodeAccess;
  restore: RestoreSettings;
}

/** Everything, wired once in daemon.ts; each use case takes the part it needs. */
export interface CoreContext extends BackupContext, RestoreContext {
  agent: BackupAgent;
}
