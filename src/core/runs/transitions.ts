import type { BackupState, RestoreState, RunState } from '../model.ts';

/** A state machine: for each state, the states it may become. An ended state maps to none. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

export const runTransitions: TransitionTable<RunState> = {
  queued: ['running', 'cancelled', 'interrupted', 'failed'],
  running: ['succeeded', 'failed', 'partially_failed', 'cancelled', 'interrupted'],
  succeeded: [],
  failed: [],
  partially_failed: [],
  cancelled: [],
  interrupted: [],
};

/** A backup is made (pending, transferring), then kept (available) or not (failed); either can be deleted. */
export const backupTransitions: TransitionTable<BackupState> = {
  pending: ['transferring', 'failed'],
  transferring: ['available', 'failed'],
  available: ['deleting'],
  failed: ['deleting'],
  deleting: [],
};

/** A restore follows its run, except that it cannot end partially. */
export const restoreTransitions: TransitionTable<RestoreState> = {
  queued: ['running', 'cancelled', 'interrupted', 'failed'],
  running: ['succeeded', 'failed', 'cancelled', 'interrupted'],
  succeeded: [],
  failed: [],
  cancelled: [],
  interrupted: [],
};

export const liveRunStates = ['queued', 'running'] as const satisfies readonly RunState[];
export const liveBackupStates = ['pending', 'transferring'] as const satisfies readonly BackupState[];
export const liveRestoreStates = ['queued', 'running'] as const satisfies readonly RestoreState[];

export function isLive(state: RunState): boolean {
  return (liveRunStates as readonly RunState[]).includes(state);
}

/** Still being made: pending or transferring. */
export function isLiveBackup(state: BackupState): boolean {
  return (liveBackupStates as readonly BackupState[]).includes(state);
}

export function isLiveRestore(state: RestoreState): boolean {
  return (liveRestoreStates as readonly RestoreState[]).includes(state);
}

export function canTransition<S extends string>(table: TransitionTable<S>, from: S, to: S): boolean {
  return table[from].includes(to);
}

/** The states that may become `to`: what a compare-and-set to `to` expects the record to be in. */
export function sourcesOf<S extends string>(table: TransitionTable<S>, to: S): S[] {
  return (Object.keys(table) as S[]).filter((from) => table[from].includes(to));
}
