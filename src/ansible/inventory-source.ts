import { stat } from 'node:fs/promises';
import type { Inventory as InventoryPort, TargetHost } from '../core/ports.ts';
import { readInventory, type Inventory } from './inventory.ts';

export interface InventorySourceOptions {
  read?: (file: string) => Promise<Inventory>;
  /** How long an answer is reused while the inventory file is unchanged (0: every caller after a read reads afresh). */
  cacheMs?: number;
  now?: () => number;
}

/**
 * The core's Inventory port over an inventory file: one `ansible-inventory` at a time, whatever
 * the number of callers. Callers that ask while a read is in flight share its answer, so a burst
 * of requests spawns one process, not one each. An answer is reused for `cacheMs` while the file's
 * size and mtime stay the same (an operator's edit is seen at once; a dynamic inventory's new
 * answer, or an edit of its group_vars, within `cacheMs`), so a backup request reads no inventory
 * in the common case.
 */
export class InventorySource implements InventoryPort {
  private inFlight: Promise<Inventory> | undefined;
  private cached: { inventory: Inventory; stamp: string; at: number } | undefined;
  private readonly read: (file: string) => Promise<Inventory>;
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(
    private readonly file: string,
    opts: InventorySourceOptions = {},
  ) {
    this.read = opts.read ?? readInventory;
    this.cacheMs = opts.cacheMs ?? 0;
    this.now = opts.now ?? Date.now;
  }

  async hostsOf(group: string): Promise<TargetHost[]> {
    const inv = await this.current();
    const names = new Set(inv.groups[group] ?? []);
    return inv.hosts.filter((h) => names.has(h.name));
  }

  private current(): Promise<Inventory> {
    if (this.cacheMs === 0) return this.readShared('');
    return this.stamp().then((stamp) => {
      const hit = this.cached;
      return hit && hit.stamp === stamp && this.now() - hit.at < this.cacheMs ? hit.inventory : this.readShared(stamp);
    });
  }

  private readShared(stamp: string): Promise<Inventory> {
    this.inFlight ??= this.read(this.file)
      .then((inventory) => {
        this.cached = { inventory, stamp, at: this.now() };
        return inventory;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  /** What changes when the file is edited or replaced. */
  private async stamp(): Promise<string> {
    const s = await stat(this.file).catch(() => null);
    return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : 'missing';
  }
}
