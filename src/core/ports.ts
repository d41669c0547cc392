import type { Readable } from 'node:stream';
import type {
  Backup,
  BackupFilter,
  BackupState,
  Page,
  Restore,
  RestoreFilter,
  RestoreState,
  Run,
  EventLevel,
  Phase,
  RunEvent,
  RunState,
} from './model.ts';

/** What the core needs from the outside world. Adapters in src/db, src/ansible, src/nodes, src/storage implement these. */

/** What `update` may change: anything but the identity and the state (states change only by `transition`). */
export type RunPatch = Partial<Omit<Run, 'id' | 'kind' | 'target' | 'state'>>;
export type BackupPatch = Partial<Omit<Backup, 'id' | 'runId' | 'state'>>;
export type RestorePatch = Partial<Omit<Restore, 'id' | 'runId' | 'state'>>;

/** The run that holds a node: no other run may touch the node until it ends. */
export interface NodeLock {
  node: string;
  runId: string;
  kind: Run['kind'];
  /** The restore, when the run is one. */
  restoreId: string | null;
}

export interface Records {
  transaction<T>(fn: () => T): T;
  /** Throws when the database does not answer. */
  ping(): void;
  runs: {
    insert(run: Run): void;
    get(id: string): Run | undefined;
    byIdempotencyKey(key: string): Run | undefined;
    liveForTarget(target: string): Run | undefined;
    update(id: string, patch: RunPatch): void;
    /**
     * Compare-and-set: sets `to` (and the patch) only if the run is in one of `from` and, given
     * an owner, still leased to it. False when not (another writer got there first). Only the
     * run lifecycle calls it.
     */
    transition(id: string, from: readonly RunState[], to: RunState, patch: RunPatch, owner?: string): boolean;
    /** Moves a live run's lease from `from` (who held it) to `to`; false when someone else moved it first. */
    claim(id: string, from: string | null, to: string, expiresAt: number): boolean;
    /** Extends the lease of a live run its owner still holds; false when the lease was taken. */
    renewLease(id: string, owner: string, expiresAt: number): boolean;
    /** Runs that are live, or whose services may still be quiesced. */
    unfinished(): Run[];
  };
  events: {
    append(event: Omit<RunEvent, 'seq'>): RunEvent;
    list(runId: string, afterSeq: number, limit: number): RunEvent[];
  };
  backups: {
    insert(backup: Backup): void;
    get(id: string): Backup | undefined;
    update(id: string, patch: BackupPatch): void;
    /** Compare-and-set of a backup's state, as for runs; given an owner, only while its run is leased to it. */
    transition(id: string, from: readonly BackupState[], to: BackupState, patch: BackupPatch, owner?: string): boolean;
    delete(id: string): void;
    /** A page newest first; manifests (the bulk of a row) only when asked, else null. */
    list(filter: BackupFilter, limit: number, marker?: string, opts?: { manifests?: boolean }): Page<Backup>;
    last(filter: Omit<BackupFilter, 'state'>): Backup | undefined;
    ofRun(runId: string): Backup[];
    inStates(states: BackupState[]): Backup[];
  };
  restores: {
    insert(restore: Restore): void;
    get(id: string): Restore | undefined;
    update(id: string, patch: RestorePatch): void;
    /** Compare-and-set of a restore's state, as for runs. */
    transition(id: string, from: readonly RestoreState[], to: RestoreState, patch: RestorePatch): boolean;
    liveForBackup(backupId: string): boolean;
    liveForNode(node: string): Restore | undefined;
    byRun(runId: string): Restore | undefined;
    list(filter: RestoreFilter, limit: number, marker?: string): Page<Restore>;
    last(filter: Omit<RestoreFilter, 'state'>): Restore | undefined;
    /** Restores a dead daemon left queued or running. */
    unfinished(): Restore[];
  };
  /** Which run holds which node: a backup and a restore never touch one node at once. */
  nodeLocks: {
    /** The first of `nodes` that a run holds, if any. */
    heldAmong(nodes: string[]): NodeLock | undefined;
    /** Takes `nodes` for the run; the database refuses a node another run holds. */
    take(runId: string, nodes: string[]): void;
    release(runId: string): void;
  };
  nodes: {
    upsert(node: { name: string; target: string; address: string }): void;
    hostKey(name: string): string | null;
    pinHostKey(name: string, sha256: string): void;
    /** What a node reported about itself in a backup; an Ironic UUID once known is kept if the node stops reporting it. */
    setIdentity(name: string, identity: NodeIdentity): void;
    /** Every known node, by name. */
    list(filter: { target?: string }): NodeRecord[];
    /** The node of that name, else the one with that Ironic UUID (in any case). */
    find(nameOrIronicUuid: string): NodeRecord | undefined;
  };
}

/** How a restore finds a node: the MACs it PXE-boots from, and its Ironic node where known. */
export interface NodeIdentity {
  macs: string[];
  ironicUuid: string | null;
}

export interface NodeRecord extends NodeIdentity {
  name: string;
  target: string;
  address: string;
  updatedAt: number;
}

/** One of a restore's files: the kernel, initrd and rescue overlay it staged, or its backup's file archive. */
export interface RestoreFileTarget {
  restoreId: string;
  artefact: 'kernel' | 'initrd' | 'overlay' | 'archive';
}

/** A node's boot config, by the MAC it is staged for (`aa:bb:cc:dd:ee:ff`, lower case). */
export interface BootConfigTarget {
  mac: string;
  artefact: 'config';
  flavour: 'pxelinux' | 'grub' | 'ipxe';
}

/** What a boot request asks for, as the boot servers resolve it from the boot root's layout. */
export type BootTarget = RestoreFileTarget | BootConfigTarget;

/** One boot file request as a boot server (TFTP or HTTP) saw it: what restore progress is read from. */
export interface BootFetch {
  protocol: 'tftp' | 'http';
  /** The client's IP address. */
  client: string;
  /** What the request asks for; null when it is nothing a restore stages (a bootloader, a name of nothing). */
  target: BootTarget | null;
  /** The path as the client asked for it (TFTP: in the boot root, without a leading slash; HTTP: the URL path), for logs. */
  path: string;
  outcome: 'sent' | 'refused' | 'failed';
  /** Bytes sent (0 unless sent). */
  bytes: number;
  reason?: string;
}

/** Decrypts stored artefacts for a restore, with identities the operator gave the daemon for that purpose. */
export interface ArtefactDecipher {
  decrypt(input: Readable): Promise<Readable>;
}

/** A node as the inventory describes it. */
export interface TargetHost {
  name: string;
  address: string;
  port: number;
  user: string;
  privateKeyFile?: string;
  connection: 'ssh' | 'local';
  /** The host's `rearguard_*` inventory variables (e.g. its BMC for IPMI power control). */
  vars?: Record<string, unknown>;
}

export interface Inventory {
  hostsOf(group: string): Promise<TargetHost[]>;
}

export interface NodeSession {
  /** A stream of the file's bytes; back-pressure flows to the node. */
  readFile(path: string): Promise<Readable>;
  exec(command: string): Promise<{ stdout: string; stderr: string; code: number }>;
  close(): void;
}

export interface NodeAccess {
  open(host: TargetHost): Promise<NodeSession>;
}

export interface StoredObject {
  key: string;
  size: number;
}

export interface Storage {
  /** The URL a prefix is reachable at (LOCATION_URL of a backup). */
  locationOf(prefix: string): string;
  /**
   * Writes a new object; never overwrites one. The object appears only once complete. `size` is
   * the exact length, checked; `sizeHint` an upper bound when the exact length is not known in
   * advance (an encrypted stream), so that a backend can size its parts.
   */
  put(key: string, body: Readable, opts?: { size?: number; sizeHint?: number }): Promise<StoredObject>;
  get(key: string, range?: { start: number; end?: number }): Promise<Readable>;
  head(key: string): Promise<StoredObject | null>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<StoredObject[]>;
  /** Fails with a clear reason when the storage cannot take a backup now. */
  checkWritable(): Promise<void>;
  /** Releases connections (e.g. an SFTP session) at shutdown. */
  close?(): void;
}

/** Encrypts artefacts on their way to storage. */
export interface ArtefactCipher {
  format: 'age';
  /** Public recipients only: whoever holds a matching identity can decrypt. */
  recipients: string[];
  /** Names the recipient set in manifests, so an operator knows which identity opens a backup. */
  keyId: string;
  encrypt(input: Readable): Promise<Readable>;
  /** The most bytes that encrypting `plainBytes` bytes can give. */
  sizeBound(plainBytes: number): number;
}

/** One step the backup agent reports as it works on a run's nodes: the core journals it as it arrives. */
export interface AgentEvent {
  phase: Phase;
  host: string | null;
  level: EventLevel;
  message: string;
  data?: Record<string, unknown>;
}

/** What imaging a run's nodes came to, host by host. */
export interface ImagingOutcome {
  /** The agent ran to its end on every host, without a failure or a stop. */
  clean: boolean;
  /** Stopped by the signal (cancel, shutdown) before its end. */
  cancelled: boolean;
  /** Services may have been stopped somewhere: if not, there is nothing to restart. */
  quiesceStarted: boolean;
  /** Per host of the run: why it has no image, or null when its image is staged. */
  failures: Record<string, string | null>;
  /** Set when preflight refused: then nothing was stopped on any host. */
  preflightFailure: string | null;
}

interface AgentRequest {
  run: Run;
  /** One per host of the run. */
  backups: Backup[];
  onEvent: (e: AgentEvent) => void;
}

export interface UnquiesceRequest extends AgentRequest {
  /** Backups whose staged images nothing will transfer: the agent removes them from their nodes. */
  discard: string[];
}

export interface ImageRequest extends AgentRequest {
  /** All hosts quiesced together (one consistent point), else one at a time. */
  stopAll: boolean;
  signal: AbortSignal;
}

/**
 * What makes images on the nodes (Velero's plugin interfaces are the model): the core says which
 * backups of which hosts, all at once or one by one; the agent quiesces, images, unquiesces, and
 * reports typed steps and a typed outcome. Playbooks, task names and variables stay behind it.
 */
export interface BackupAgent {
  /** Where a node keeps a backup's image until it is transferred (and its rescue system finds the archive). */
  imageDir(backupId: string): string;
  image(req: ImageRequest): Promise<ImagingOutcome>;
  /**
   * Starts again whatever the run's quiesce stopped, on every host of the run, and removes what
   * the run left on them (ReaR's work, mounts, the staged images it is told to discard); a second
   * pass does nothing.
   */
  unquiesce(req: UnquiesceRequest): Promise<{ ok: boolean; failure: string | null }>;
}

export interface Clock {
  now(): number;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** The node as a power driver needs it. */
export interface PowerTarget {
  name: string;
  macs: string[];
  ironicUuid: string | null;
  /** The node's inventory variables (e.g. its BMC address for IPMI). */
  vars: Record<string, unknown>;
}

/** Reboots a node into its network boot, and sets it back to boot from disk afterwards. */
export interface PowerDriver {
  name: string;
  /** What the operator must do by hand, if anything (the `manual` driver). */
  instructions?: string;
  bootFromNetwork(node: PowerTarget): Promise<void>;
  bootFromDisk(node: PowerTarget): Promise<void>;
}

/** What a restore stages for a node's network boot, and what the boot servers serve from it. */
export interface RestoreBootSpec {
  restoreId: string;
  backupId: string;
  node: string;
  macs: string[];
  /** How the node's iPXE and rescue system reach the daemon's HTTP server. */
  httpUrl: string;
  /** Kernel arguments besides the initrds (ReaR's `unattended`, console settings). */
  kernelArgs: string;
  /** Variables the rescue system's Rearguard hook reads (where to report, where the archive is). */
  rescueEnv: Record<string, string>;
}

export interface BootStaging {
  /** Writes one boot file of a restore (kernel, initrd) from a stream; resolves with its size. */
  writeFile(restoreId: string, name: string, body: Readable): Promise<number>;
  /** Renders the per-MAC boot configs (pxelinux, grub, iPXE) and the rescue overlay; the node can boot once this resolves. */
  publish(spec: RestoreBootSpec): Promise<void>;
  /** Replaces the node's boot configs with ones that boot it from its local disk (once it is recovered). */
  bootLocal(restoreId: string, node: string, macs: string[]): Promise<void>;
  /** Removes everything staged for the restore; the node no longer finds a boot config. */
  remove(restoreId: string, macs: string[]): Promise<void>;
  /** Removes whatever a dead daemon left staged (at start-up, when no restore is live). */
  sweep(): Promise<void>;
}
