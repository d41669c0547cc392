import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BootStaging, RestoreBootSpec } from '../core/ports.ts';
import { bootConfigPaths, renderBootConfigs, renderRescueOverlay, restoreDir } from './boot-configs.ts';
import { writeWholeFile } from './whole-file.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Restore files in the boot root that the TFTP and HTTP boot servers serve: a directory per
 * restore (kernel, initrd, overlay) and the per-MAC configs that point a node at it. Every file
 * appears whole (written aside, then renamed), so a booting node never reads half a config.
 */
export class FileBootStaging implements BootStaging {
  constructor(private readonly root: string) {}

  async writeFile(restoreId: string, name: string, body: Readable): Promise<number> {
    if (!NAME.test(name)) throw new Error(`not a boot file name: ${name}`);
    return writeWholeFile(join(this.root, restoreDir(restoreId), name), body);
  }

  async publish(spec: RestoreBootSpec): Promise<void> {
    await writeWholeFile(join(this.root, restoreDir(spec.restoreId), 'rearguard.cpio'), renderRescueOverlay(spec));
    // Configs last: once one exists, the node may boot, and everything it points at is there.
    for (const [path, text] of renderBootConfigs(spec)) await writeWholeFile(join(this.root, path), Buffer.from(text));
  }

  async remove(restoreId: string, macs: string[]): Promise<void> {
    for (const mac of macs) {
      for (const path of Object.values(bootConfigPaths(mac))) await rm(join(this.root, path), { force: true });
    }
    await rm(join(this.root, restoreDir(restoreId)), { recursive: true, force: true });
  }

  async sweep(): Promise<void> {
    await rm(join(this.root, 'rearguard'), { recursive: true, force: true });
    await rm(join(this.root, 'pxelinux.cfg'), { recursive: true, force: true });
    await rm(join(this.root, 'ipxe'), { recursive: true, force: true });
    const names = await readdir(this.root).catch(() => []);
    for (const n of names.filter((n) => n.startsWith('grub.cfg-01-'))) await rm(join(this.root, n), { force: true });
  }
}
