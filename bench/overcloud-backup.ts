/**
 * Overcloud backup timing on a lab of 3 controllers (real sshd nodes with their own roots and
 * MariaDB, real ansible-playbook and `rear mkbackup`), measured in one bench run:
 *  - the stopall=yes run's downtime window (first instant any MariaDB was down to the last) vs.
 *    the run's total time (transfers happen after services are back, so they are not downtime);
 *  - its wall time vs. the same 3 nodes backed up one after the other (stopall=no), and vs. one
 *    node's share of that serial run.
 * Run as root: node --import tsx bench/overcloud-backup.ts   (a few minutes; not part of npm test)
 */
import { labDaemonConfig, startLab, type LabNode } from '../test/harness/lab.ts';
import { mariadbRunning } from '../test/harness/mariadb.ts';
import { labRearSettings } from '../test/harness/rear.ts';
import { startTestDaemon, waitForRun, Workspace } from '../test/harness/test-daemon.ts';

interface Measured {
  wallMs: number;
  downtimeMs: number;
  state: string;
}

/** Wall time of one run through the API, and the span during which any node's MariaDB was down. */
async function measure(
  d: Awaited<ReturnType<typeof startTestDaemon>>,
  nodes: LabNode[],
  stopall: 'yes' | 'no',
): Promise<Measured> {
  const down: number[] = [];
  let on = true;
  const probe = (async () => {
    while (on) {
      const up = await Promise.all(nodes.map(mariadbRunning));
      if (up.includes(false)) down.push(Date.now());
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const started = Date.now();
  const { run } = await d.json('POST', `/v1/backup/overcloud?stopall=${stopall}`, { status: 202 });
  const done = await waitForRun(d, run.id, 1_800_000);
  const wallMs = Date.now() - started;
  on = false;
  await probe;
  return { wallMs, downtimeMs: down.length ? down.at(-1)! - down[0]! : 0, state: done.state };
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const lab = await startLab({ nodes: 3, withRoot: true, groups: ['Controller', 'Controller', 'Controller'] });
  const ws = new Workspace();
  let daemon: Awaited<ReturnType<typeof startTestDaemon>> | undefined;
  try {
    daemon = await startTestDaemon(ws, labDaemonConfig(lab.inventoryFile, await labRearSettings(lab.nodes[0]!)));
    const parallel = await measure(daemon, lab.nodes, 'yes');
    const serial = await measure(daemon, lab.nodes, 'no');
    if (parallel.state !== 'succeeded' || serial.state !== 'succeeded') {
      throw new Error(`runs did not succeed: stopall=yes ${parallel.state}, stopall=no ${serial.state}`);
    }
    const oneNode = serial.wallMs / lab.nodes.length;
    console.log(`stopall=yes, 3 nodes: wall ${s(parallel.wallMs)}, downtime window ${s(parallel.downtimeMs)}`);
    console.log(`stopall=no (serial), 3 nodes: wall ${s(serial.wallMs)}; one node's share ${s(oneNode)}`);
    console.log(`downtime / total (stopall=yes):          ${(parallel.downtimeMs / parallel.wallMs).toFixed(2)}`);
    console.log(`parallel wall / serial wall:             ${(parallel.wallMs / serial.wallMs).toFixed(2)}`);
    console.log(`parallel wall / one node (target < 1.5): ${(parallel.wallMs / oneNode).toFixed(2)}`);
  } finally {
    await daemon?.stop();
    await lab.stop();
    ws.remove();
  }
}

await main();
