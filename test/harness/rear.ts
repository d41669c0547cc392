import type { LabNode } from './lab-node.ts';

/**
 * ReaR settings a lab node needs (rearguard_rear_settings): the sandbox kernel running the
 * node is not the node's own, so name the Debian kernel installed in its tree; no modules keeps
 * the initrd small (~31 MB instead of ~136 MB with all modules); the bootloader cannot be
 * guessed from the host's virtual disk. Tests check what is in the archive, not how small it is,
 * so the archive is gzip -1 (ReaR's default is tar's gzip -6) and the initrd fast-compressed.
 */
export async function labRearSettings(node: LabNode): Promise<Record<string, string | string[]>> {
  const r = await node.exec('ls /boot/vmlinuz-* | sort -V | tail -n 1');
  const kernel = r.stdout.trim();
  if (r.exitCode !== 0 || !kernel) throw new Error(`${node.name}: no kernel under /boot`);
  return {
    KERNEL_FILE: kernel,
    KERNEL_VERSION: kernel.replace('/boot/vmlinuz-', ''),
    MODULES: ['no_modules'],
    BOOTLOADER: 'GRUB2',
    BACKUP_PROG_COMPRESS_OPTIONS: ['--use-compress-program=gzip -1'],
    REAR_INITRD_COMPRESSION: 'fast',
  };
}
