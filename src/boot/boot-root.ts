/**
 * The layout of the boot root, the directory both boot servers serve; no other module knows it.
 * It builds the paths staging writes and resolves the paths boot servers are asked for:
 *
 *   rearguard/<restore id>/kernel, initrd.cgz, rearguard.cpio   what a live restore staged
 *   pxelinux.cfg/01-<mac>, grub.cfg-01-<mac>, ipxe/<mac>.ipxe   a node's boot configs (<mac>: aa-bb-cc-dd-ee-ff)
 *   anything else (pxelinux.0, ldlinux.c32, ...)                bootloaders
 *
 * A restore's archive is no file here: the HTTP boot server streams it from storage.
 */
import { idPattern } from '../core/ids.ts';
import type { BootConfigTarget, BootTarget, RestoreFileTarget } from '../core/ports.ts';

type StagedFile = Exclude<RestoreFileTarget['artefact'], 'archive'>;
type StagedFileTarget = RestoreFileTarget & { artefact: StagedFile };
type Flavour = BootConfigTarget['flavour'];

const RESTORES = 'rearguard';
const RESTORE_ID = idPattern('rs');
const MAC_NAME = /^[0-9a-f]{2}(-[0-9a-f]{2}){5}$/i;

/** A restore's files by the name boot loaders fetch them by (the backup's artefact names, and the overlay). */
const stagedFileNames: Record<StagedFile, string> = { kernel: 'kernel', initrd: 'initrd.cgz', overlay: 'rearguard.cpio' };
const stagedFileByName = new Map(Object.entries(stagedFileNames).map(([file, name]) => [name, file as StagedFile]));

/** Each flavour's config path is `<prefix><mac><suffix>`: what pxelinux, GRUB and the iPXE script ask for. */
const configNames: Record<Flavour, { prefix: string; suffix: string }> = {
  pxelinux: { prefix: 'pxelinux.cfg/01-', suffix: '' },
  grub: { prefix: 'grub.cfg-01-', suffix: '' },
  ipxe: { prefix: 'ipxe/', suffix: '.ipxe' },
};

/** `aa:bb:cc:dd:ee:ff` as boot loaders name per-MAC files: `aa-bb-cc-dd-ee-ff`. */
const macFileName = (mac: string) => mac.toLowerCase().replaceAll(':', '-');

/** A restore's directory: removing it removes everything the restore staged but its configs. */
export const restoreDir = (restoreId: string) => `${RESTORES}/${restoreId}`;

/** Where a staged file or boot config is, relative to the boot root. */
export function bootPath(target: StagedFileTarget | BootConfigTarget): string {
  if (target.artefact === 'config') {
    const { prefix, suffix } = configNames[target.flavour];
    return `${prefix}${macFileName(target.mac)}${suffix}`;
  }
  return `${restoreDir(target.restoreId)}/${stagedFileNames[target.artefact]}`;
}

/** The paths of a node's boot configs, by flavour. */
export const bootConfigPaths = (mac: string): Record<Flavour, string> => ({
  pxelinux: bootPath({ mac, artefact: 'config', flavour: 'pxelinux' }),
  grub: bootPath({ mac, artefact: 'config', flavour: 'grub' }),
  ipxe: bootPath({ mac, artefact: 'config', flavour: 'ipxe' }),
});

/** A restore's staged file by its file name (`kernel`, `initrd.cgz`, `rearguard.cpio`); null when either is not one. */
export function stagedFile(restoreId: string, name: string): StagedFileTarget | null {
  const artefact = stagedFileByName.get(name);
  return artefact && RESTORE_ID.test(restoreId) ? { restoreId, artefact } : null;
}

/** A node's boot config by the MAC as its file name has it (`aa-bb-cc-dd-ee-ff`, any case); null when it is no MAC. */
export function bootConfig(flavour: Flavour, macName: string): BootConfigTarget | null {
  return MAC_NAME.test(macName) ? { mac: macName.toLowerCase().replaceAll('-', ':'), artefact: 'config', flavour } : null;
}

/** A restore's archive; null when the id is not a restore's. */
export const restoreArchive = (restoreId: string): RestoreFileTarget | null =>
  RESTORE_ID.test(restoreId) ? { restoreId, artefact: 'archive' } : null;

/** What a path relative to the boot root is; null for anything no restore stages (bootloaders, names of nothing). */
export function resolveBootPath(path: string): BootTarget | null {
  const parts = path.split('/');
  if (parts.length === 3 && parts[0] === RESTORES) return stagedFile(parts[1]!, parts[2]!);
  for (const flavour of Object.keys(configNames) as Flavour[]) {
    const { prefix, suffix } = configNames[flavour];
    if (path.startsWith(prefix) && path.endsWith(suffix)) {
      return bootConfig(flavour, path.slice(prefix.length, path.length - suffix.length));
    }
  }
  return null;
}

/** Whether a top-level entry of the boot root holds only what restores stage: what a sweep at start-up removes. */
export const isStagedEntry = (name: string) =>
  name === RESTORES || name === 'pxelinux.cfg' || name === 'ipxe' || name.startsWith(configNames.grub.prefix);
