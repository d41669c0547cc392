import { join } from 'node:path';
import { killGroup, spawnDaemon, waitReady, type DaemonProcess } from './daemon-process.ts';
import { labDaemonConfig, startLab, type Lab } from './lab.ts';
import { nodeLeftovers, type Leftover } from './node-leftovers.ts';
import { labRearSettings } from './rear.ts';
import { recordLeftovers } from './record-leftovers.ts';
import { client, Workspace, type Client } from './test-daemon.ts';

/**
 * The crash soak (issue 15): seeded runs of the real daemon process on a lab of two own-root nodes
 * (an undercloud and one controller, each with MariaDB and a real `rear mkbackup`): backups,
 * cancelled backups and restores, the daemon SIGKILLed at a random delay or at a random event of
 * the run and started again. After every run, and after every restart once recovery is done (the
 * daemon is ready only then), nothing may be left: see node-leftovers.ts and record-leftovers.ts.
 * The same seed draws the same plan; timings on a shared machine decide where a kill lands.
 */

export type RunKind = 'backup' | 'cancel' | 'restore';

export interface SoakRun {
  n: number;
  kind: RunKind;
  target: string;
  /** How the run was meant to end: 'none', 'after 12.3 s', 'at event 7'. */
  kill: string;
  killed: boolean;
  state: string;
  ms: number;
  leftovers: Leftover[];
}

export interface SoakResult {
  seed: number;
  runs: SoakRun[];
  kills: number;
  ms: number;
}

interface Plan {
  kind: RunKind;
  target: 'undercloud' | 'overcloud';
  stopall: 'yes' | 'no';
  /** Seconds after the run starts before its cancel is asked. */
  cancelAfter: number;
  kill: { at: 'none' } | { at: 'delay'; seconds: number } | { at: 'event'; index: number };
}

/** mulberry32: small, seeded, the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Kill points cover a whole backup (preflight, quiesce, ~30 s of rear, unquiesce, transfer) and a
 * restore's short life (its boot timeout is 5 s: nothing boots in the lab). A kill drawn past the
 * run's end does not happen: the run ends by itself.
 */
function draw(random: () => number, haveBackup: boolean): Plan {
  const r = random();
  const kind: RunKind = !haveBackup || r < 0.45 ? 'backup' : r < 0.7 ? 'cancel' : 'restore';
  const target = random() < 0.5 ? 'undercloud' : 'overcloud';
  const stopall = random() < 0.5 ? 'yes' : 'no';
  const cancelAfter = Math.round(random() * 300) / 10;
  const k = random();
  const long = kind === 'restore' ? 7 : 45;
  const kill: Plan['kill'] =
    k < 0.3
      ? { at: 'none' }
      : k < 0.65
        ? { at: 'delay', seconds: Math.round(random() * long * 10) / 10 }
        : { at: 'event', index: 1 + Math.floor(random() * (kind === 'restore' ? 8 : 40)) };
  return { kind, target, stopall, cancelAfter, kill };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class Daemon {
  process!: DaemonProcess;
  client!: Client;
  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    this.process = spawnDaemon({ env: this.env });
    const url = await this.process.url;
    // Ready only once start-up recovery is done (services restarted, partial objects removed).
    await waitReady(url, 600_000);
    this.client = client(url);
  }

  async crash(): Promise<void> {
    killGroup(this.process, 'SIGKILL');
    await this.process.exited;
    await this.start();
  }

  async stop(): Promise<void> {
    if (!this.process) return;
    killGroup(this.process, 'SIGTERM');
    await this.process.exited;
  }
}

const ended = (state: string) => !['queued', 'running'].includes(state);

async function runState(c: Client, runId: string): Promise<string> {
  return (await c.json<{ state: string }>('GET', `/v1/runs/${runId}`)).state;
}

/** Resolves true once the run has recorded `index` events, false if it ends first. */
async function reachEvent(c: Client, runId: string, index: number): Promise<boolean> {
  for (;;) {
    const { events } = await c.json<{ events: unknown[] }>('GET', `/v1/runs/${runId}/events?limit=${index}`);
    if (events.length >= index) return true;
    if (ended(await runState(c, runId))) return false;
    await sleep(100);
  }
}

/** Resolves true once `seconds` have passed since `from`, false if the run ends first. */
async function reachDelay(c: Client, runId: string, from: number, seconds: number): Promise<boolean> {
  while (Date.now() - from < seconds * 1000) {
    if (ended(await runState(c, runId))) return false;
    await sleep(200);
  }
  return true;
}

async function waitEnded(c: Client, runId: string): Promise<string> {
  const until = Date.now() + 900_000;
  for (;;) {
    const state = await runState(c, runId);
    if (ended(state) || Date.now() > until) return state;
    await sleep(250);
  }
}

export async function runSoak(opts: { seed: number; runs: number; log: (line: string) => void }): Promise<SoakResult> {
  const started = Date.now();
  const random = prng(opts.seed);
  const lab: Lab = await startLab({ nodes: 2, withRoot: true, groups: ['Undercloud', 'Controller'] });
  const ws = new Workspace();
  const env = {
    REARGUARD_CONFIG: ws.writeConfig({
      ...labDaemonConfig(lab.inventoryFile, await labRearSettings(lab.nodes[0]!)),
      // Nothing boots in the lab: a restore's power-on does nothing and its boot phase times out.
      power: { driver: 'command', command: { network: ['true'] } },
      restore: { bootTimeoutSeconds: 5, rescueTimeoutSeconds: 5, recoverTimeoutSeconds: 5 },
      log: { level: 'info' },
    }),
  };
  const database = join(ws.dir, 'var', 'rearguard.db');
  const daemon = new Daemon(env);
  const runs: SoakRun[] = [];
  let kills = 0;
  const leftovers = async () => [
    ...(await recordLeftovers(database)),
    ...(await Promise.all(lab.nodes.map(nodeLeftovers))).flat(),
  ];
  try {
    await daemon.start();
    const available: Array<{ id: string; node: string }> = [];
    for (let n = 1; n <= opts.runs; n++) {
      const plan = draw(random, available.length > 0);
      const at = Date.now();
      const c = daemon.client;
      let runId: string;
      let target: string = plan.target;
      let backupIds: string[] = [];
      if (plan.kind === 'restore') {
        const b = available[Math.floor(random() * available.length)]!;
        target = `restore ${b.node}`;
        runId = (await c.json('POST', `/v1/restore/${b.id}/${b.node}`, { status: 202 })).run.id;
      } else {
        const s = await c.json('POST', `/v1/backup/${plan.target}?stopall=${plan.stopall}`, { status: 202 });
        runId = s.run.id;
        backupIds = s.backup_ids;
      }
      if (plan.kind === 'cancel' && (await reachDelay(c, runId, at, plan.cancelAfter))) {
        const res = await c.request('POST', `/v1/runs/${runId}/cancel`);
        if (res.status !== 202 && res.status !== 409) throw new Error(`cancel of ${runId}: ${res.status} ${await res.text()}`);
      }
      const k = plan.kill;
      const reached =
        k.at === 'delay'
          ? await reachDelay(c, runId, at, k.seconds)
          : k.at === 'event'
            ? await reachEvent(c, runId, k.index)
            : false;
      if (reached) {
        kills++;
        await daemon.crash();
      }
      const state = await waitEnded(daemon.client, runId);
      for (const id of backupIds) {
        const b = await daemon.client.json('GET', `/v1/backup/${id}`);
        if (b.state === 'available') available.push({ id, node: b.node });
      }
      const run: SoakRun = {
        n,
        kind: plan.kind,
        target: plan.kind === 'restore' ? target : `${target} stopall=${plan.stopall}`,
        kill: k.at === 'none' ? 'none' : k.at === 'delay' ? `after ${k.seconds} s` : `at event ${k.index}`,
        killed: reached,
        state,
        ms: Date.now() - at,
        leftovers: await leftovers(),
      };
      runs.push(run);
      opts.log(summaryLine(run, plan));
    }
  } finally {
    await daemon.stop().catch(() => undefined);
    await lab.stop();
    ws.remove();
  }
  return { seed: opts.seed, runs, kills, ms: Date.now() - started };
}

function summaryLine(r: SoakRun, plan: Plan): string {
  const cancel = plan.kind === 'cancel' ? ` cancel after ${plan.cancelAfter} s,` : '';
  const kill = r.kill === 'none' ? 'no kill' : `kill ${r.kill}${r.killed ? '' : ' (ended first)'}`;
  const left = r.leftovers.length === 0 ? 'nothing left' : `LEFT: ${r.leftovers.map((l) => `${l.kind}: ${l.what}`).join('; ')}`;
  return `#${r.n} ${r.kind} ${r.target},${cancel} ${kill} -> ${r.state} in ${(r.ms / 1000).toFixed(1)} s; ${left}`;
}

/** Totals: runs by kind and final state, kills, leftovers by kind. */
export function totals(result: SoakResult): string[] {
  const count = (keys: string[]) => {
    const m = new Map<string, number>();
    for (const key of keys) m.set(key, (m.get(key) ?? 0) + 1);
    return [...m].map(([key, v]) => `${key} ${v}`).join(', ') || 'none';
  };
  // A leftover stays until something removes it: count each once, at the run that first saw it.
  const all = [...new Map(result.runs.flatMap((r) => r.leftovers).map((l) => [l.what, l])).values()];
  return [
    `seed ${result.seed}: ${result.runs.length} runs in ${(result.ms / 1000).toFixed(0)} s, ${result.kills} SIGKILLs`,
    `runs: ${count(result.runs.map((r) => `${r.kind}/${r.killed ? 'killed' : 'unkilled'}/${r.state}`))}`,
    `leftovers: ${count(all.map((l) => l.kind))}`,
    ...all.map((l) => `  ${l.kind}: ${l.what}`),
  ];
}
