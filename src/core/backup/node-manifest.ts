import { z } from 'zod';

/** The manifest the backup playbook writes on the node next to the artefacts. */
export const nodeManifestSchema = z.object({
  host: z.string(),
  backup_id: z.string(),
  rear_version: z.string().nullable().optional(),
  created: z.string(),
  artefacts: z
    .array(
      z.object({
        name: z.string().regex(/^[A-Za-z0-9._-]+$/),
        path: z.string().startsWith('/'),
        size: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1),
  /** The disks of ReaR's layout (`disk` lines of disklayout.conf): what a restore must find room for. */
  disks: z
    .array(z.object({ device: z.string().startsWith('/'), bytes: z.number().int().nonnegative() }))
    .optional(),
});

export type NodeManifest = z.infer<typeof nodeManifestSchema>;

export function parseNodeManifest(text: string, expectedBackupId: string): NodeManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('manifest.json on the node is not JSON');
  }
  const manifest = nodeManifestSchema.parse(raw);
  if (manifest.backup_id !== expectedBackupId) {
    throw new Error(`manifest.json on the node is for backup ${manifest.backup_id}, not ${expectedBackupId}`);
  }
  return manifest;
}
