/**
 * The API fuzzer at full size (issue 15): `npm run fuzz [-- requests [seed]]`, default 10,000
 * requests and a random seed, which is printed; the same seed sends the same requests again.
 * Starts an in-process daemon on the fixture playbooks (see test/api/fuzz.ts for what is sent and
 * checked), prints the figures and the failures, and exits 1 if there was any. Not part of
 * `npm test`: `test/api/fuzz.test.ts` runs a short seeded case of it in the quick suite.
 */
import { fuzzApi } from '../test/api/fuzz.ts';
import { startTestDaemon, tokens, Workspace } from '../test/harness/test-daemon.ts';

const requests = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: ${requests} requests, seed ${seed}`);

const ws = new Workspace();
const daemon = await startTestDaemon(ws);
try {
  const started = performance.now();
  const report = await fuzzApi({ baseUrl: daemon.url, seed, requests, tokens, runStarts: 2 });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `fuzz: ${requests} requests in ${seconds} s; hangs ${report.hangs}; latency ms p50 ${report.ms.p50}, p99 ${report.ms.p99}, max ${report.ms.max}`,
  );
  console.log('fuzz: by status', JSON.stringify(report.byStatus));
  for (const f of report.failures.slice(0, 20))
    console.log(`fuzz: FAIL #${f.index} ${f.why}\n  ${JSON.stringify(f.request)}\n  -> ${f.status} ${f.body}`);
  console.log(`fuzz: ${report.failures.length} failures (seed ${seed})`);
  process.exitCode = report.failures.length ? 1 : 0;
} finally {
  await daemon.stop();
  ws.remove();
}
