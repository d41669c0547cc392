import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BootStaging, RestoreBootSpec } from '../core/ports.ts';
import { bootConfigPaths, renderBootConfigs, renderRescueOverlay, restoreDir } from './boot-configs.ts';

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
    const file = join(this.root, restoreDir(restoreId), name);
    await mkdir(dirname(file), { recursive: true, mode: 0o755 });
    const temp = `${file}.${randomBytes(6).toString('hex')}.part`;
    const out = createWriteStream(temp, { mode: 0o644 });
    try {
      await pipeline(body, out);
      await rename(temp, file);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return out.bytesWritten;
  }

  async publish(spec: RestoreBootSpec): Promise<void> {
    await this.put(`${restoreDir(spec.restoreId)}/rearguard.cpio`, renderRescueOverlay(spec));
    // Configs last: once one exists, the node may boot, and everything it points at is there.
    for (const [path, text] of renderBootConfigs(spec)) await this.put(path, Buffer.from(text));
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

  private async put(path: string, data: Buffer): Promise<void> {
    const file = join(this.root, path);
    await mkdir(dirname(file), { recursive: true, mode: 0o755 });
    const temp = `${file}.${randomBytes(6).toString('hex')}.part`;
    await writeFile(temp, data, { mode: 0o644 });
    await rename(temp, file);
  }
}
