import { VerificationError } from '../backup/artefact-transfer.ts';
import { RearguardError } from '../errors.ts';
import type { Artefact, Backup } from '../model.ts';

export interface BootArtefacts {
  kernel: Artefact;
  initrd: Artefact;
  /** The file archive ReaR's recover restores; a backup without one boots, but has nothing to recover. */
  archive: Artefact | undefined;
}

/** The artefacts of a backup that a network boot needs; a backup without a kernel and initrd cannot be restored by PXE. */
export function bootArtefacts(backup: Backup): BootArtefacts {
  const find = (name: string) => backup.manifest?.artefacts.find((a) => a.name === name);
  const kernel = find('kernel');
  const initrd = find('initrd.cgz');
  if (!kernel || !initrd) {
    throw new RearguardError('unprocessable', `backup ${backup.id} has no rescue kernel and initrd to boot from`);
  }
  return { kernel, initrd, archive: find('backup.tar.gz') };
}

/** Null when what was read from storage is the artefact of the manifest; otherwise the error that says how it differs. */
export function storageMismatch(artefact: Artefact, bytes: number, sha256: string): VerificationError | null {
  if (bytes === artefact.size && sha256 === artefact.sha256) return null;
  return new VerificationError(
    `${artefact.name} from storage (${bytes} bytes, sha256 ${sha256}) differs from the backup's manifest (${artefact.size} bytes, sha256 ${artefact.sha256})`,
  );
}
