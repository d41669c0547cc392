import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeWholeFile } from './whole-file.ts';

/** The network bootloaders Debian ships (pxelinux, syslinux-common, ipxe), by the name served. */
const DEBIAN_BOOTLOADERS: ReadonlyArray<readonly [name: string, source: string]> = [
  ['pxelinux.0', '/usr/lib/PXELINUX/pxelinux.0'],
  ['ldlinux.c32', '/usr/lib/syslinux/modules/bios/ldlinux.c32'],
  ['undionly.kpxe', '/usr/lib/ipxe/undionly.kpxe'],
  ['ipxe.efi', '/usr/lib/ipxe/ipxe.efi'],
];

/**
 * Copies the bootloaders that exist on this host into the boot root and returns their names;
 * missing ones are skipped. Copies, not symlinks: the boot servers refuse links out of the root.
 */
export async function installBootloaders(root: string): Promise<string[]> {
  await mkdir(root, { recursive: true });
  const installed: string[] = [];
  for (const [name, source] of DEBIAN_BOOTLOADERS) {
    let content: Buffer;
    try {
      content = await readFile(source); // follows Debian's own links (ipxe.efi -> /boot/ipxe.efi)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    await writeWholeFile(join(root, name), content);
    installed.push(name);
  }
  return installed;
}
