import type { RunState } from './model.ts';

/** The run state machine: every state change goes through `assertTransition`. */
const transitions: Record<RunState, readonly RunState[]> = {
  queued: ['running', 'cancelled', 'interrupted', 'failed'],
  running: ['succeeded', 'failed', 'partially_failed', 'cancelled', 'interrupted'],
  succeeded: [],
  failed: [],
  partially_failed: [],
  cancelled: [],
  interrupted: [],
};

export const liveStates: readonly RunState[] = ['queued', 'running'];

export function isLive(state: RunState): boolean {
  return liveStates.includes(state);
}

export function canTransition(from: RunState, to: RunState): boolean {
  return transitions[from].includes(to);
}

export function assertTransition(from: RunState, to: RunState): void {
  if (!canTransition(from, to)) throw new Error(`run state ${from} cannot become ${to}`);
}
