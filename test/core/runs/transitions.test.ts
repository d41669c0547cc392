import { describe, expect, test } from 'vitest';
import { backupStates, restoreStates, runStates } from '../../../src/core/model.ts';
import {
  backupTransitions,
  canTransition,
  isLive,
  restoreTransitions,
  runTransitions,
  sourcesOf,
  type TransitionTable,
} from '../../../src/core/runs/transitions.ts';
import { aBackup, aRun, memoryLifecycle, recordRestore } from '../memory-records.ts';

/** Every allowed change, written out: the tables must say exactly this. */
const allowed = {
  run: [
    'queued>running',
    'queued>cancelled',
    'queued>interrupted',
    'queued>failed',
    'running>succeeded',
    'running>failed',
    'running>partially_failed',
    'running>cancelled',
    'running>interrupted',
  ],
  backup: [
    'pending>transferring',
    'pending>failed',
    'transferring>available',
    'transferring>failed',
    'available>deleting',
    'failed>deleting',
  ],
  restore: [
    'queued>running',
    'queued>cancelled',
    'queued>interrupted',
    'queued>failed',
    'running>succeeded',
    'running>failed',
    'running>cancelled',
    'running>interrupted',
  ],
};

const pairs = <S extends string>(states: readonly S[]) => states.flatMap((from) => states.map((to) => [from, to] as const));

describe('the transition tables', () => {
  const tables: Array<[keyof typeof allowed, TransitionTable<string>, readonly string[]]> = [
    ['run', runTransitions, runStates],
    ['backup', backupTransitions, backupStates],
    ['restore', restoreTransitions, restoreStates],
  ];
  for (const [name, table, states] of tables) {
    test(`${name}s: every pair of states is allowed or refused as written`, () => {
      for (const [from, to] of pairs(states)) {
        expect(canTransition(table, from, to), `${from} -> ${to}`).toBe(allowed[name].includes(`${from}>${to}`));
      }
    });
    test(`${name}s: sourcesOf(to) lists exactly the states that may become it`, () => {
      for (const to of states) {
        expect(sourcesOf(table, to).sort()).toEqual(
          allowed[name]
            .filter((p) => p.endsWith(`>${to}`))
            .map((p) => p.split('>')[0])
            .sort(),
        );
      }
    });
  }

  test('only queued and running runs are live', () => {
    expect(runStates.filter(isLive)).toEqual(['queued', 'running']);
  });
});

/** The records port's compare-and-set, for every pair: it changes a record only from a state the table allows. */
describe('compare-and-set in the records', () => {
  test.each(pairs(runStates))('run %s -> %s', (from, to) => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: from, target: `t-${from}-${to}` });
    ctx.records.runs.insert(run);
    const ok = ctx.records.runs.transition(run.id, sourcesOf(runTransitions, to), to, {});
    expect(ok).toBe(canTransition(runTransitions, from, to));
    expect(ctx.records.runs.get(run.id)!.state).toBe(ok ? to : from);
  });

  test.each(pairs(backupStates))('backup %s -> %s', (from, to) => {
    const ctx = memoryLifecycle();
    const run = aRun({ state: 'succeeded' });
    ctx.records.runs.insert(run);
    const backup = aBackup(run, 'n1', { state: from });
    ctx.records.backups.insert(backup);
    const ok = ctx.records.backups.transition(backup.id, sourcesOf(backupTransitions, to), to, {});
    expect(ok).toBe(canTransition(backupTransitions, from, to));
    expect(ctx.records.backups.get(backup.id)!.state).toBe(ok ? to : from);
  });

  test.each(pairs(restoreStates))('restore %s -> %s', (from, to) => {
    const ctx = memoryLifecycle();
    const { restore } = recordRestore(ctx.records, { run: 'succeeded', restore: from });
    const ok = ctx.records.restores.transition(restore.id, sourcesOf(restoreTransitions, to), to, {});
    expect(ok).toBe(canTransition(restoreTransitions, from, to));
    expect(ctx.records.restores.get(restore.id)!.state).toBe(ok ? to : from);
  });
});
