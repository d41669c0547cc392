import { execa } from 'execa';

/** A bridge in the host namespace with one network namespace per node attached by a veth pair. */
export interface LabNet {
  id: number;
  bridge: string;
  hostAddress: string;
  nodes: Array<{ netns: string; address: string }>;
}

const ip = (...args: string[]) => execa('ip', args);

/**
 * Subnets are 10.213.<id>.0/24 with <id> taken from the pid and a counter, so labs of parallel
 * test processes (or of one process, one after the other) do not collide; an id whose bridge
 * already exists is skipped.
 */
let counter = 0;

export async function createLabNet(nodeCount: number): Promise<LabNet> {
  for (let attempt = 0; attempt < 250; attempt++) {
    const id = ((process.pid * 7 + counter++) % 250) + 1;
    const bridge = `rgbr${id}`;
    const created = await ip('link', 'add', bridge, 'type', 'bridge').then(
      () => true,
      () => false,
    );
    if (created) return populate(id, bridge, nodeCount);
  }
  throw new Error('no free lab network id');
}

async function populate(id: number, bridge: string, nodeCount: number): Promise<LabNet> {
  const prefix = `10.213.${id}`;
  const hostAddress = `${prefix}.1`;
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    netns: `rg${id}n${i}`,
    address: `${prefix}.${10 + i}`,
  }));
  try {
    await ip('addr', 'add', `${hostAddress}/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (const [i, node] of nodes.entries()) {
      const hostEnd = `rg${id}h${i}`;
      await ip('netns', 'add', node.netns);
      await ip('link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
      await ip('link', 'set', hostEnd, 'master', bridge, 'up');
      const inNs = (...args: string[]) => ip('-n', node.netns, ...args);
      await inNs('link', 'set', 'lo', 'up');
      await inNs('addr', 'add', `${node.address}/24`, 'dev', 'eth0');
      await inNs('link', 'set', 'eth0', 'up');
      await inNs('route', 'add', 'default', 'via', hostAddress);
    }
    return { id, bridge, hostAddress, nodes };
  } catch (err) {
    await removeNet(
      bridge,
      nodes.map((n) => n.netns),
    );
    throw err;
  }
}

export async function removeNet(bridge: string, netns: string[]): Promise<void> {
  // Deleting a namespace deletes its veth end, which deletes the host end of the pair.
  for (const ns of netns) await ip('netns', 'del', ns).catch(() => undefined);
  await ip('link', 'del', bridge).catch(() => undefined);
}
