import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BootStaging, RestoreBootSpec } from '../core/ports.ts';
import { renderBootConfigs, renderLocalBootConfigs, renderRescueOverlay } from './boot-configs.ts';
import { bootConfigPaths, bootPath, isStagedEntry, restoreDir, stagedFile } from './boot-root.ts';
import { writeWholeFile } from './whole-file.ts';

/**
 * Restore files in the boot root that the TFTP and HTTP boot servers serve: a directory per
 * restore (kernel, initrd, overlay) and the per-MAC configs that point a node at it. Every file
 * appears whole (written aside, then renamed), so a booting node never reads half a config.
 */
export class FileBootStaging implements BootStaging {
  constructor(private readonly root: string) {}

  async writeFile(restoreId: string, name: string, body: Readable): Promise<number> {
    // Only what the boot servers serve: a file staged under another name would never boot.
    const target = stagedFile(restoreId, name);
    if (!target) throw new Error(`not a boot file of a restore: ${restoreId}/${name}`);
    return writeWholeFile(join(this.root, bootPath(target)), body);
  }

  async publish(spec: RestoreBootSpec): Promise<void> {
    const overlay = bootPath({ restoreId: spec.restoreId, artefact: 'overlay' });
    await writeWholeFile(join(this.root, overlay), renderRescueOverlay(spec));
    // Configs last: once one exists, the node may boot, and everything it points at is there.
    await this.writeConfigs(renderBootConfigs(spec));
  }

  async bootLocal(restoreId: string, node: string, macs: string[]): Promise<void> {
    await this.writeConfigs(renderLocalBootConfigs(restoreId, node, macs));
  }

  private async writeConfigs(files: Map<string, string>): Promise<void> {
    for (const [path, text] of files) await writeWholeFile(join(this.root, path), Buffer.from(text));
  }

  async remove(restoreId: string, macs: string[]): Promise<void> {
    for (const mac of macs) {
      for (const path of Object.values(bootConfigPaths(mac))) await rm(join(this.root, path), { force: true });
    }
    await rm(join(this.root, restoreDir(restoreId)), { recursive: true, force: true });
  }

  async sweep(): Promise<void> {
    const names = await readdir(this.root).catch(() => []);
    for (const n of names.filter(isStagedEntry)) await rm(join(this.root, n), { recursive: true, force: true });
  }
}
