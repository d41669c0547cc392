/** The boot root's layout: the paths staging writes and what a requested path resolves to. */
import { describe, expect, it } from 'vitest';
import {
  bootConfig,
  bootConfigPaths,
  bootPath,
  isStagedEntry,
  resolveBootPath,
  restoreArchive,
  stagedFile,
} from '../../src/boot/boot-root.ts';
import { newId } from '../../src/core/ids.ts';
import type { BootTarget } from '../../src/core/ports.ts';

const restoreId = newId('rs');
const mac = '52:54:00:ab:cd:ef';

/** Every file target a restore stages, at the path the boot loaders ask for. */
const STAGED: Array<[path: string, target: BootTarget]> = [
  [`rearguard/${restoreId}/kernel`, { restoreId, artefact: 'kernel' }],
  [`rearguard/${restoreId}/initrd.cgz`, { restoreId, artefact: 'initrd' }],
  [`rearguard/${restoreId}/rearguard.cpio`, { restoreId, artefact: 'overlay' }],
  ['pxelinux.cfg/01-52-54-00-ab-cd-ef', { mac, artefact: 'config', flavour: 'pxelinux' }],
  ['grub.cfg-01-52-54-00-ab-cd-ef', { mac, artefact: 'config', flavour: 'grub' }],
  ['ipxe/52-54-00-ab-cd-ef.ipxe', { mac, artefact: 'config', flavour: 'ipxe' }],
];

describe('resolveBootPath', () => {
  it.each(STAGED)('%s is %o, and that target is built back to the same path', (path, target) => {
    expect(resolveBootPath(path)).toEqual(target);
    expect(bootPath(target as Parameters<typeof bootPath>[0])).toBe(path);
  });

  it.each([
    ['pxelinux.cfg/01-52-54-00-AB-CD-EF', 'pxelinux'],
    ['grub.cfg-01-52-54-00-Ab-cD-eF', 'grub'],
    ['ipxe/52-54-00-AB-CD-EF.ipxe', 'ipxe'],
  ] as const)('reads the MAC in %s in any case, as lower case with colons', (path, flavour) => {
    expect(resolveBootPath(path)).toEqual({ mac, artefact: 'config', flavour });
  });

  it.each([
    // Bootloaders and other files of the root are served, but are nothing a restore staged.
    'pxelinux.0',
    'ldlinux.c32',
    'pxelinux.cfg/default',
    // Paths that leave a restore's directory, or name nothing in it.
    `rearguard/${restoreId}/../kernel`,
    `rearguard/../${restoreId}/kernel`,
    `../rearguard/${restoreId}/kernel`,
    `rearguard/${restoreId}/kernel/..`,
    `rearguard/${restoreId}/./kernel`,
    `rearguard/${restoreId}//kernel`,
    `/rearguard/${restoreId}/kernel`,
    `rearguard/${restoreId}`,
    `rearguard/${restoreId}/`,
    `rearguard/${restoreId}/archive`,
    `rearguard/${restoreId}/backup.tar.gz`,
    `rearguard/${restoreId}/KERNEL`,
    `rearguard/${restoreId}/initrd`,
    `other/${restoreId}/kernel`,
    // Ids of no restore: another kind's, upper case, too short, a name.
    `rearguard/${newId('bk')}/kernel`,
    `rearguard/${newId('run')}/kernel`,
    `rearguard/${restoreId.toUpperCase()}/kernel`,
    `rearguard/${restoreId.slice(0, -1)}/kernel`,
    'rearguard/last/kernel',
    // Configs of no MAC, or with more around it.
    'pxelinux.cfg/01-52:54:00:ab:cd:ef',
    'pxelinux.cfg/01-52-54-00-ab-cd',
    'pxelinux.cfg/01-52-54-00-ab-cd-ef-01',
    'pxelinux.cfg/01-52-54-00-ab-cd-eg',
    'pxelinux.cfg/52-54-00-ab-cd-ef',
    'pxelinux.cfg/../pxelinux.cfg/01-52-54-00-ab-cd-ef',
    'pxelinux.cfg/01-52-54-00-ab-cd-ef/../../secret',
    'boot/pxelinux.cfg/01-52-54-00-ab-cd-ef',
    'grub.cfg-01-',
    'grub.cfg-01-52-54-00-ab-cd-ef.ipxe',
    'ipxe/52-54-00-ab-cd-ef',
    'ipxe/.ipxe',
    'ipxe/../52-54-00-ab-cd-ef.ipxe',
    '',
  ])('%j resolves to nothing', (path) => {
    expect(resolveBootPath(path)).toBeNull();
  });
});

describe('what the HTTP boot server asks for by URL', () => {
  it('a staged file by name, for a restore id only', () => {
    expect(stagedFile(restoreId, 'initrd.cgz')).toEqual({ restoreId, artefact: 'initrd' });
    expect(stagedFile(restoreId, 'archive')).toBeNull();
    expect(stagedFile(restoreId, '..')).toBeNull();
    expect(stagedFile(newId('bk'), 'kernel')).toBeNull();
  });

  it('a config by the MAC as iPXE sends it (hexhyp, any case)', () => {
    expect(bootConfig('ipxe', '52-54-00-AB-cd-ef')).toEqual({ mac, artefact: 'config', flavour: 'ipxe' });
    expect(bootConfig('ipxe', mac)).toBeNull();
    expect(bootConfig('ipxe', '..')).toBeNull();
  });

  it("a restore's archive, which has no path in the root", () => {
    expect(restoreArchive(restoreId)).toEqual({ restoreId, artefact: 'archive' });
    expect(restoreArchive(newId('bk'))).toBeNull();
  });
});

describe('paths staging writes', () => {
  it("a node's configs, from its MAC in the records' form or any case", () => {
    const paths = {
      pxelinux: 'pxelinux.cfg/01-52-54-00-ab-cd-ef',
      grub: 'grub.cfg-01-52-54-00-ab-cd-ef',
      ipxe: 'ipxe/52-54-00-ab-cd-ef.ipxe',
    };
    expect(bootConfigPaths(mac)).toEqual(paths);
    expect(bootConfigPaths(mac.toUpperCase())).toEqual(paths);
  });

  it('top-level entries a sweep removes: what restores stage, never a bootloader', () => {
    for (const name of ['rearguard', 'pxelinux.cfg', 'ipxe', 'grub.cfg-01-52-54-00-ab-cd-ef']) {
      expect(isStagedEntry(name), name).toBe(true);
    }
    for (const name of ['pxelinux.0', 'ldlinux.c32', 'undionly.kpxe', 'ipxe.efi', 'grub.cfg']) {
      expect(isStagedEntry(name), name).toBe(false);
    }
  });
});
