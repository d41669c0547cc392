import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectDir } from '../config.ts';
import type { BootConfigTarget, RestoreBootSpec } from '../core/ports.ts';
import { bootConfigPaths, bootPath } from './boot-root.ts';
import { newcArchive } from './cpio.ts';

type Flavour = BootConfigTarget['flavour'];

const templates = new Map<string, string>();
function render(template: string, values: Record<string, string>): string {
  let text = templates.get(template);
  if (text === undefined) templates.set(template, (text = readFileSync(resolve(projectDir, 'pxe', template), 'utf8')));
  return text.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole);
}

/** The kernel arguments ReaR's own PXE and ISO configs boot the rescue system with, then the configured ones (e.g. `unattended`). */
const rescueArgs = (spec: RestoreBootSpec) =>
  `root=/dev/ram0 vga=normal rw rearguard.restore=${spec.restoreId} ${spec.kernelArgs}`.trim();

/** The per-MAC boot configs of a restore, by path relative to the boot root. */
export function renderBootConfigs(spec: RestoreBootSpec): Map<string, string> {
  const { restoreId } = spec;
  const values = {
    restore_id: restoreId,
    backup_id: spec.backupId,
    node: spec.node,
    kernel: bootPath({ restoreId, artefact: 'kernel' }),
    initrd: bootPath({ restoreId, artefact: 'initrd' }),
    overlay: bootPath({ restoreId, artefact: 'overlay' }),
    args: rescueArgs(spec),
    http: spec.httpUrl.replace(/\/+$/, ''),
  };
  return perMac(spec.macs, { pxelinux: 'pxelinux.cfg', grub: 'grub.cfg', ipxe: 'boot.ipxe' }, values);
}

/** The per-MAC boot configs that send a recovered node on to its own disk. */
export function renderLocalBootConfigs(restoreId: string, node: string, macs: string[]): Map<string, string> {
  const templates = { pxelinux: 'local.pxelinux.cfg', grub: 'local.grub.cfg', ipxe: 'local.ipxe' };
  return perMac(macs, templates, { restore_id: restoreId, node });
}

/** Each MAC's config of every bootloader flavour, rendered from that flavour's template, by path relative to the boot root. */
function perMac(macs: string[], templates: Record<Flavour, string>, values: Record<string, string>): Map<string, string> {
  const files = new Map<string, string>();
  for (const mac of macs) {
    const paths = bootConfigPaths(mac);
    for (const flavour of Object.keys(templates) as Flavour[]) files.set(paths[flavour], render(templates[flavour], values));
  }
  return files;
}

/** The script iPXE firmware is pointed at: it chains to the node's own script, if one is staged. */
export const renderChainScript = (httpUrl: string) => render('chain.ipxe', { http: httpUrl.replace(/\/+$/, '') });

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * ReaR scripts the overlay replaces or adds in the rescue system, by their path there: the kernel
 * unpacks the overlay over the initrd, so a file of the overlay overwrites the initrd's.
 */
export const rearReplacements: Record<string, string> = {
  // Accepts the FIFO the rescue hook streams the archive through, and does not read it.
  'usr/share/rear/verify/NETFS/default/550_check_backup_archive.sh': 'rear/550_check_backup_archive.sh',
  // Keeps ReaR 2.7's exit from failing a recover that succeeded (an empty dir it made itself).
  'usr/share/rear/restore/NETFS/default/985_rearguard_remove_prefix_dir.sh': 'rear/985_rearguard_remove_prefix_dir.sh',
};

/**
 * The initramfs overlay: the rescue hook, what it needs to know about this restore, and the ReaR
 * scripts it replaces (their directories are the initrd's: the overlay adds none of them).
 */
export function renderRescueOverlay(spec: RestoreBootSpec): Buffer {
  const env = Object.entries(spec.rescueEnv)
    .map(([k, v]) => `${k}=${shellQuote(v)}\n`)
    .join('');
  return newcArchive([
    { name: 'etc', mode: 0o755 },
    { name: 'etc/rearguard', mode: 0o700 },
    { name: 'etc/rearguard/restore.env', mode: 0o600, data: Buffer.from(env) },
    { name: 'etc/scripts', mode: 0o755 },
    { name: 'etc/scripts/system-setup.d', mode: 0o755 },
    { name: 'etc/scripts/system-setup.d/90-rearguard.sh', mode: 0o755, data: Buffer.from(render('rescue-hook.sh', {})) },
    ...Object.entries(rearReplacements).map(([name, template]) => ({
      name,
      mode: 0o644,
      data: Buffer.from(render(template, {})),
    })),
  ]);
}
