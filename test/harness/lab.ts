import { execa } from 'execa';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLabNet, type LabNet } from './lab-net.ts';
import { startNode, type LabNode } from './lab-node.ts';
import { copyRoot, labRootCache } from './lab-root.ts';
import { LAB_PARENT, LAB_PREFIX, recordLab, removeLabResources, sweepStaleLabs } from './lab-sweep.ts';
import { startMariadb } from './mariadb.ts';

export type { ExecResult, LabNode } from './lab-node.ts';
export { mariadbRunning, readTestRows, startMariadb, stopMariadb, writeTestRow } from './mariadb.ts';
export { labRearSettings } from './rear.ts';

export interface Lab {
  nodes: LabNode[];
  /** The bridge address on the host side: services bound to it are reachable from the nodes. */
  hostAddress: string;
  /** INI inventory: one group per node group, connection vars, host key checking off. */
  inventoryFile: string;
  /** An address in the lab subnet where nothing answers (for unreachable-host tests). */
  deadAddress: string;
  dir: string;
  stop(): Promise<void>;
}

export interface StartLabOptions {
  nodes: number;
  /** Group of each node; default: the first is `Undercloud`, the others `Controller`. */
  groups?: string[];
  /** Give each node its own Debian tree (needed for ReaR and services). */
  withRoot: boolean;
  /** Start MariaDB in each own-root node (default: true when withRoot). */
  mariadb?: boolean;
  /** Staging dir inside own-root nodes, mounted as its own filesystem. */
  stagingDir?: string;
  onLog?: (line: string) => void;
}

export const DEFAULT_STAGING_DIR = '/var/lib/rearguard/staging';

/**
 * The daemon config that backs up own-root lab nodes for real: their inventory, MariaDB stopped
 * by sysvinit while ReaR (with the lab's `rear` settings, see labRearSettings) images them.
 */
export function labDaemonConfig(
  inventory: string,
  rear: Record<string, string | string[]>,
  backup: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    inventory,
    ansible: {},
    backup: { stagingDir: DEFAULT_STAGING_DIR, services: ['mariadb'], serviceManager: 'sysvinit', rear, ...backup },
  };
}

/**
 * Starts real test nodes: sshd in its own network namespace on a lab bridge, optionally in its
 * own Debian tree with MariaDB running. Everything it starts is a child of this process and goes
 * away with stop(), which must be called even when a test fails (afterAll).
 */
export async function startLab(opts: StartLabOptions): Promise<Lab> {
  const groups = opts.groups ?? Array.from({ length: opts.nodes }, (_, i) => (i === 0 ? 'Undercloud' : 'Controller'));
  if (groups.length !== opts.nodes) throw new Error('startLab: one group per node');
  const cache = opts.withRoot ? await labRootCache(opts.onLog) : undefined;

  await sweepStaleLabs();
  const dir = await mkdtemp(join(LAB_PARENT, LAB_PREFIX));
  const nodes: LabNode[] = [];
  let net: LabNet | undefined;
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    await removeLabResources(dir, net && { bridge: net.bridge, netns: net.nodes.map((n) => n.netns) });
  };

  try {
    const clientKey = join(dir, 'id_ed25519');
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rearguard-lab', '-f', clientKey]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rearguard-lab-host', '-f', hostKey]);
    const labNet = await createLabNet(opts.nodes);
    net = labNet;
    await recordLab(dir, { bridge: labNet.bridge, netns: labNet.nodes.map((n) => n.netns) });
    const counts: Record<string, number> = {};
    const specs = labNet.nodes.map((n, i) => {
      const group = groups[i]!;
      const index = counts[group] ?? 0;
      counts[group] = index + 1;
      const name = `${group.toLowerCase()}-${index}`;
      return {
        ...n,
        name,
        group,
        hostAddress: labNet.hostAddress,
        dir: join(dir, name),
        clientKey,
        hostKey,
        stagingDir: opts.stagingDir ?? DEFAULT_STAGING_DIR,
      };
    });
    await Promise.all(
      specs.map(async (spec) => {
        await mkdir(spec.dir);
        if (cache) await copyRoot(cache, join(spec.dir, 'root'));
      }),
    );
    nodes.push(...(await Promise.all(specs.map((s) => startNode({ ...s, root: cache ? join(s.dir, 'root') : undefined })))));
    if (opts.withRoot && opts.mariadb !== false) await Promise.all(nodes.map(startMariadb));

    const inventoryFile = join(dir, 'inventory.ini');
    await writeFile(inventoryFile, inventory(nodes, clientKey));
    const { hostAddress } = labNet;
    return { nodes, hostAddress, inventoryFile, deadAddress: hostAddress.replace(/\.1$/, '.254'), dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function inventory(nodes: LabNode[], clientKey: string): string {
  const byGroup = new Map<string, LabNode[]>();
  for (const n of nodes) byGroup.set(n.group, [...(byGroup.get(n.group) ?? []), n]);
  const lines: string[] = [];
  for (const [group, members] of byGroup) {
    lines.push(`[${group}]`, ...members.map((n) => `${n.name} ansible_host=${n.address}`), '');
  }
  lines.push(
    '[all:vars]',
    'ansible_user=root',
    'ansible_port=22',
    `ansible_ssh_private_key_file=${clientKey}`,
    'ansible_python_interpreter=/usr/bin/python3',
    "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
    '',
  );
  return lines.join('\n');
}
