import type { Inventory as InventoryPort, TargetHost } from '../core/ports.ts';
import { readInventory, type Inventory } from './inventory.ts';

/**
 * The core's Inventory port over an inventory file: one `ansible-inventory` at a time, whatever
 * the number of callers. Callers that ask while a read is in flight share its answer, so a burst
 * of requests spawns one process, not one each; the next caller after it reads afresh (an
 * operator's edit, or a dynamic inventory's new answer, is seen at the next run).
 */
export class InventorySource implements InventoryPort {
  private inFlight: Promise<Inventory> | undefined;

  constructor(
    private readonly file: string,
    private readonly read: (file: string) => Promise<Inventory> = readInventory,
  ) {}

  async hostsOf(group: string): Promise<TargetHost[]> {
    const inv = await this.current();
    const names = new Set(inv.groups[group] ?? []);
    return inv.hosts.filter((h) => names.has(h.name));
  }

  private current(): Promise<Inventory> {
    this.inFlight ??= this.read(this.file).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }
}
