import { expect, test } from 'vitest';
import { runSoak, totals } from '../harness/crash-soak.ts';

/**
 * The short seeded case of the crash soak (`npm run soak`, bench/soak.ts): a few runs of the real
 * daemon process on two own-root lab nodes, SIGKILLed where the seed says, restarted each time.
 * Seed 12 draws: a backup that succeeds, a backup killed at its 2nd event, a restore of the first
 * backup killed at its 5th event. Its own lab, because the daemon is killed under its runs.
 */
const SEED = 12;
const RUNS = 3;

test(`crash soak, seed ${SEED}, ${RUNS} runs: after every run and every restart nothing is left live, down or behind`, async () => {
  const lines: string[] = [];
  const result = await runSoak({ seed: SEED, runs: RUNS, log: (l) => lines.push(l) });
  const report = [...lines, ...totals(result)].join('\n');
  expect(result.kills, report).toBeGreaterThan(0);
  expect(
    result.runs.flatMap((r) => r.leftovers),
    report,
  ).toEqual([]);
}, 300_000);
