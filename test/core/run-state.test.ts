import { describe, expect, test } from 'vitest';
import { runStates, type RunState } from '../../src/core/model.ts';
import { assertTransition, canTransition, isLive } from '../../src/core/run-state.ts';

const all: readonly RunState[] = runStates;
const ended = all.filter((s) => s !== 'queued' && s !== 'running');

/** Every pair of states, allowed or not: the table is the whole state machine. */
const allowed: Array<[RunState, RunState]> = [
  ['queued', 'running'],
  ['queued', 'cancelled'],
  ['queued', 'interrupted'],
  ['queued', 'failed'],
  ['running', 'succeeded'],
  ['running', 'failed'],
  ['running', 'partially_failed'],
  ['running', 'cancelled'],
  ['running', 'interrupted'],
];

describe('the run state machine', () => {
  test.each(all.flatMap((from) => all.map((to) => [from, to] as const)))('%s -> %s', (from, to) => {
    const ok = allowed.some(([f, t]) => f === from && t === to);
    expect(canTransition(from, to)).toBe(ok);
    if (ok) expect(() => assertTransition(from, to)).not.toThrow();
    else expect(() => assertTransition(from, to)).toThrow(`run state ${from} cannot become ${to}`);
  });

  test('only queued and running are live; an ended run never changes again', () => {
    expect(all.filter(isLive)).toEqual(['queued', 'running']);
    for (const from of ended) for (const to of all) expect(canTransition(from, to)).toBe(false);
  });
});
