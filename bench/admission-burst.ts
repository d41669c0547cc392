/**
 * A burst of backup requests on one target: 100 concurrent `POST /v1/backup/undercloud` against
 * the daemon as operators run it (bin/rearguardd.js, its own process), with the fixture playbook
 * holding the one run that starts. Prints the answer time of the one 202 (it reads the
 * inventory), the percentiles of the 409s and the /healthz latency during the burst, each as a
 * ratio to an idle /healthz measured in the same run (target: p99 of the burst <= 10x idle), and
 * checks the count: exactly one 202, the rest 409.
 *
 *   node --import tsx bench/admission-burst.ts [requests = 100] [rounds = 3]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killGroup, spawnDaemon } from '../test/harness/daemon-process.ts';
import { client, waitForRun, Workspace } from '../test/harness/test-daemon.ts';

const requests = Number(process.argv[2] ?? 100);
const rounds = Number(process.argv[3] ?? 3);

const ws = new Workspace({ undercloud: { undercloud: { hold: true } } });
const daemon = spawnDaemon({ env: { REARGUARD_CONFIG: ws.writeConfig({ log: { level: 'info' } }) } });
// The daemon runs in a process group of its own: a bench stopped from outside must not leave it behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killGroup(daemon, 'SIGKILL');
    ws.remove();
    process.exit(130);
  });
}
try {
  const url = await daemon.url;
  const c = client(url);
  const timed = async (f: () => Promise<Response>) => {
    const t0 = performance.now();
    const res = await f();
    await res.arrayBuffer();
    return { ms: performance.now() - t0, status: res.status };
  };
  const healthz = () => timed(() => fetch(`${url}/healthz`));
  const pct = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

  for (let i = 0; i < 20; i++) await healthz();
  const idle: number[] = [];
  for (let i = 0; i < 200; i++) idle.push((await healthz()).ms);
  const idleP50 = pct(idle, 50);
  console.log(`idle /healthz: p50 ${idleP50.toFixed(2)} ms, p99 ${pct(idle, 99).toFixed(2)} ms\n`);
  console.log('round  202  409  other   the 202       409s p50 (x idle)    409s p99 (x idle)    /healthz during, p99 (x idle)');

  for (let round = 1; round <= rounds; round++) {
    let polling = true;
    const during: number[] = [];
    const poll = (async () => {
      while (polling) during.push((await healthz()).ms);
    })();
    const burst = await Promise.all(
      Array.from({ length: requests }, () => timed(() => c.request('POST', '/v1/backup/undercloud'))),
    );
    polling = false;
    await poll;

    const count = (s: number) => burst.filter((b) => b.status === s).length;
    // The 202 waits for the inventory read; the refused ones should not.
    const ms = burst.filter((b) => b.status === 409).map((b) => b.ms);
    const accepted = burst.find((b) => b.status === 202)?.ms ?? NaN;
    const x = (v: number) => `${v.toFixed(1)} ms (${(v / idleP50).toFixed(1)}x)`;
    console.log(
      `${String(round).padEnd(5)}  ${String(count(202)).padStart(3)}  ${String(count(409)).padStart(3)}  ${String(requests - count(202) - count(409)).padStart(5)}   ${accepted.toFixed(0).padStart(6)} ms   ${x(pct(ms, 50)).padEnd(19)}  ${x(pct(ms, 99)).padEnd(19)}  ${x(pct(during, 99))}`,
    );
    if (count(202) !== 1 || count(409) !== requests - 1) throw new Error('a burst must start exactly one run');

    const live = (await c.json<{ backups: Array<{ run_id: string }> }>('GET', '/v1/backup?state=pending&limit=1')).backups[0]!;
    mkdirSync(ws.staging, { recursive: true });
    writeFileSync(join(ws.staging, `release-${live.run_id}`), '');
    await waitForRun(c, live.run_id);
  }
} finally {
  killGroup(daemon, 'SIGTERM');
  await daemon.exited;
  ws.remove();
}
