/** The records of the domain, as the core sees them (no SQL or HTTP types). Times are epoch ms. */

export const targets = ['undercloud', 'overcloud'] as const;
export type Target = (typeof targets)[number];

// Each list of values is spelled once, here: the API schemas and the database schema import it.
export const runKinds = ['backup', 'restore', 'cleanup', 'verify'] as const;
export type RunKind = (typeof runKinds)[number];
export const runStates = ['queued', 'running', 'succeeded', 'failed', 'partially_failed', 'cancelled', 'interrupted'] as const;
export type RunState = (typeof runStates)[number];

/** What a run of each kind was asked to do. */
export interface RunParamsByKind {
  /** All nodes quiesced together (one consistent point), or one at a time. */
  backup: { stopAll: boolean };
  restore: { backupId: string; node: string };
  cleanup: Record<string, never>;
  verify: Record<string, never>;
}

/** A run; `kind` says what its `params` hold (`if (run.kind === 'backup') run.params.stopAll`). */
export type Run = { [K in RunKind]: RunFields & { kind: K; params: RunParamsByKind[K] } }[RunKind];

interface RunFields {
  id: string;
  target: string;
  state: RunState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  requestedBy: string | null;
  idempotencyKey: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  quiesceOpen: boolean;
}

export type Phase =
  | 'run'
  | 'preflight'
  | 'quiesce'
  | 'image'
  | 'unquiesce'
  | 'transfer'
  | 'verify'
  | 'cleanup'
  | 'recovery'
  | 'stage'
  | 'power'
  | 'recover'
  | RestorePhase;

export const eventLevels = ['info', 'warn', 'error'] as const;
export type EventLevel = (typeof eventLevels)[number];

export interface RunEvent {
  seq: number;
  runId: string;
  at: number;
  level: EventLevel;
  phase: Phase | string;
  host: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

export const backupStates = ['pending', 'transferring', 'available', 'failed', 'deleting'] as const;
export type BackupState = (typeof backupStates)[number];

export interface Artefact {
  name: string;
  /** Size and sha256 of the artefact as the node made it (the plaintext). */
  size: number;
  sha256: string;
  /** What storage holds, when that differs from the plaintext (encrypted). */
  stored_size?: number;
  stored_sha256?: string;
}

export interface EncryptionInfo {
  format: 'age';
  recipients: string[];
  key_id: string;
}

export interface BackupManifest {
  backup_id: string;
  host: string;
  target: string;
  run_id: string;
  rear_version: string | null;
  created: string;
  /** Null when the artefacts are stored as the node made them. */
  encryption: EncryptionInfo | null;
  artefacts: Artefact[];
  /** The disks of the node's ReaR layout; absent on backups taken before layouts were recorded. */
  disks?: LayoutDisk[];
}

export interface LayoutDisk {
  device: string;
  bytes: number;
}

export interface Backup {
  id: string;
  name: string;
  locationUrl: string | null;
  creationDate: number;
  target: string;
  node: string;
  runId: string;
  state: BackupState;
  size: number | null;
  sha256: string | null;
  manifest: BackupManifest | null;
  error: string | null;
  updatedAt: number;
}

export interface BackupFilter {
  target?: string;
  node?: string;
  state?: BackupState;
}

export interface Page<T> {
  items: T[];
  nextMarker: string | null;
}

export const restoreStates = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type RestoreState = (typeof restoreStates)[number];

/** The milestones of a restore, in the order a booting node reaches them. */
export const restorePhases = [
  'staged',
  'power_on',
  'boot_config_fetched',
  'kernel_fetched',
  'initrd_fetched',
  'rescue_booted',
  'archive_fetched',
  'recovered',
  'booted_from_disk',
  'cleaned_up',
] as const;
export type RestorePhase = (typeof restorePhases)[number];

export interface Restore {
  id: string;
  backupId: string;
  node: string;
  runId: string;
  state: RestoreState;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  requestedBy: string | null;
  macs: string[];
  phases: Partial<Record<RestorePhase, number>>;
  failedPhase: RestorePhase | null;
  updatedAt: number;
}

export interface RestoreFilter {
  node?: string;
  backupId?: string;
  state?: RestoreState;
}
