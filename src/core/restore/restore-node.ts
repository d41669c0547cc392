import type { RestoreContext } from '../context.ts';
import { RearguardError } from '../errors.ts';
import type { Backup, Target } from '../model.ts';
import type { TargetHost } from '../ports.ts';

/** The node a restore boots: known from its backups, or declared in the inventory (new hardware). */
export interface RestoreNode {
  name: string;
  macs: string[];
  ironicUuid: string | null;
  /** Its disk's size when the inventory says it (`rearguard_disk_bytes`). */
  diskBytes: number | null;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * A node's host among the inventory groups of every target, its own target's first. Restores reach
 * nodes here too: the power driver reads its variables, and the node is seen booting from disk over
 * the same connection a backup uses.
 */
export async function inventoryHost(ctx: RestoreContext, name: string): Promise<TargetHost | undefined> {
  const known = ctx.records.nodes.find(name)?.target as Target | undefined;
  const targets = Object.keys(ctx.targets) as Target[];
  for (const target of known ? [known, ...targets.filter((t) => t !== known)] : targets) {
    const hosts = await ctx.inventory.hostsOf(ctx.targets[target].group).catch(() => []);
    const host = hosts.find((h) => h.name === name);
    if (host) return host;
  }
  return undefined;
}

/**
 * A node by name or Ironic UUID. A node never backed up (replacement hardware) is found in the
 * inventory by name, with its MACs in `rearguard_macs`; MACs there also override what a backup
 * recorded, since the operator knows the hardware changed.
 */
export async function resolveRestoreNode(ctx: RestoreContext, nodeId: string): Promise<RestoreNode> {
  const known = ctx.records.nodes.find(nodeId);
  const host = await inventoryHost(ctx, known?.name ?? nodeId);
  if (!known && !host) {
    throw new RearguardError(
      'not_found',
      `node ${nodeId} is unknown: give a node name or Ironic UUID from GET /v1/nodes, or a host of a target's inventory`,
      { field: 'nodeid' },
    );
  }
  const vars = host?.vars ?? {};
  const declared = macsOf(vars.rearguard_macs);
  return {
    name: known?.name ?? host!.name,
    macs: declared.length > 0 ? declared : (known?.macs ?? []),
    ironicUuid: ironicUuidOf(ctx, known?.name ?? host!.name, host),
    diskBytes: sizeOf(vars.rearguard_disk_bytes),
  };
}

/** A node's Ironic UUID: recorded from its backups, else `rearguard_ironic_uuid` of its inventory host (new hardware). */
export function ironicUuidOf(ctx: RestoreContext, name: string, host: TargetHost | undefined): string | null {
  const declared = host?.vars?.rearguard_ironic_uuid;
  return ctx.records.nodes.find(name)?.ironicUuid ?? (typeof declared === 'string' && declared !== '' ? declared : null);
}

/** Refuses, before anything is powered, a node whose disk cannot hold the backup's layout. */
export function checkDiskRoom(backup: Backup, node: RestoreNode): void {
  const needed = Math.max(0, ...(backup.manifest?.disks ?? []).map((d) => d.bytes));
  if (node.diskBytes === null || needed === 0 || node.diskBytes >= needed) return;
  const disk = backup.manifest!.disks!.find((d) => d.bytes === needed)!;
  throw new RearguardError(
    'conflict',
    `node ${node.name} has a disk of ${node.diskBytes} bytes (rearguard_disk_bytes), smaller than the ${needed} bytes of ${disk.device} in the layout of backup ${backup.id}: ReaR cannot recreate it there`,
    { node: node.name, disk_bytes: node.diskBytes, layout_device: disk.device, layout_bytes: needed },
  );
}

function macsOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  return list.map((m) => String(m).trim().toLowerCase()).filter((m) => MAC.test(m));
}

function sizeOf(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}
