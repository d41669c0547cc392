/**
 * The crash soak of issue 15: the real daemon process on a lab of two own-root nodes (MariaDB,
 * real `rear mkbackup`), a seeded mix of backups, cancelled backups and restores, the daemon
 * SIGKILLed at a random delay or at a random event of a run and restarted. After every run and
 * every restart: 0 runs left queued/running, 0 services down, 0 `rear` processes, 0 staging
 * entries, `/var/tmp/rear.*` dirs or staging mounts on any node, 0 `available` backups whose
 * stored objects are missing or do not match their manifest (test/harness/crash-soak.ts).
 *
 * Run as root:  npm run soak -- [--runs 30] [--seed N]     (~1 min per run; not part of npm test)
 * The seed is printed; the same seed draws the same plan (kinds, targets, kill points). Exits 1
 * if anything was left. A short seeded case runs in the suite: test/integration/crash-soak.lab.test.ts.
 */
import { parseArgs } from 'node:util';
import { runSoak, totals } from '../test/harness/crash-soak.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' }, seed: { type: 'string' } } });
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const runs = Number(values.runs);
if (!Number.isInteger(seed) || !Number.isInteger(runs) || runs < 1) throw new Error('--seed and --runs take whole numbers');

console.log(`crash soak: seed ${seed}, ${runs} runs`);
const result = await runSoak({ seed, runs, log: (line) => console.log(line) });
for (const line of totals(result)) console.log(line);
process.exitCode = result.runs.some((r) => r.leftovers.length > 0) ? 1 : 0;
