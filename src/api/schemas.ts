import { z } from '@hono/zod-openapi';
import { idPattern } from '../core/ids.ts';
import {
  backupStates,
  eventLevels,
  restorePhases,
  restoreStates,
  runKinds,
  runStates,
  type Backup,
  type Restore,
  type Run,
  type RunEvent,
} from '../core/model.ts';
import type { NodeRecord } from '../core/ports.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/**
 * A whole number in a query string or header, parsed strictly: decimal digits and one value only.
 * `z.coerce.number()` took `1e3`, `0x10` and ` 5`, and answered `limit=1&limit=2` with "received NaN".
 */
export function strictInteger({
  min,
  max = Number.MAX_SAFE_INTEGER,
  default: fallback,
}: {
  min: number;
  max?: number;
  default?: number;
}) {
  const schema = integerString(min, max);
  return fallback === undefined ? schema : schema.default(fallback).openapi({ default: fallback });
}

function integerString(min: number, max: number) {
  return z
    .string({
      error: (issue) =>
        Array.isArray(issue.input) ? `expected one value, got ${issue.input.length}` : 'expected a decimal integer',
    })
    .regex(/^[0-9]+$/, 'expected a decimal integer (digits only)')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`))
    .openapi({ type: 'integer', minimum: min, maximum: max });
}

export const backupIdParam = z.object({
  id: z
    .string()
    .regex(idPattern('bk'), 'not a backup id (bk_ followed by 26 base32 characters)')
    .openapi({ param: { name: 'id', in: 'path' }, example: 'bk_7q2m0c4x9d1f8h3k5n6p0r2s4t' }),
});

export const restoreIdParam = z.object({
  id: z
    .string()
    .regex(idPattern('rs'), 'not a restore id (rs_ followed by 26 base32 characters)')
    .openapi({ param: { name: 'id', in: 'path' }, example: 'rs_0c4x9d1f8h3k5n6p0r2s4t7q2m' }),
});

export const restoreSchema = z
  .object({
    id: z.string(),
    backup_id: z.string(),
    node: z.string(),
    run_id: z.string().openapi({ description: 'The run: its events are the restore’s live log (GET /v1/runs/{id}/events).' }),
    state: z.enum(restoreStates),
    created_at: z.string().openapi({ format: 'date-time' }),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    requested_by: z.string().nullable(),
    macs: z.array(z.string()).openapi({ description: 'The MACs whose network boot was staged.' }),
    phases: z.partialRecord(z.enum(restorePhases), z.string()).openapi({
      description:
        'When each milestone was reached: staged, power_on, boot_config_fetched, kernel_fetched, initrd_fetched, rescue_booted, archive_fetched, recovered, cleaned_up.',
    }),
    failed_phase: z
      .enum(restorePhases)
      .nullable()
      .openapi({ description: 'The phase a restore that did not succeed stopped in.' }),
    error: z.string().nullable(),
  })
  .openapi('Restore');

export function restoreOut(r: Restore): z.infer<typeof restoreSchema> {
  return {
    id: r.id,
    backup_id: r.backupId,
    node: r.node,
    run_id: r.runId,
    state: r.state,
    created_at: iso(r.createdAt),
    started_at: isoOrNull(r.startedAt),
    finished_at: isoOrNull(r.finishedAt),
    requested_by: r.requestedBy,
    macs: r.macs,
    phases: Object.fromEntries(restorePhases.filter((p) => r.phases[p] !== undefined).map((p) => [p, iso(r.phases[p]!)])),
    failed_phase: r.failedPhase,
    error: r.error,
  };
}

export const runIdParam = z.object({
  id: z
    .string()
    .regex(idPattern('run'), 'not a run id (run_ followed by 26 base32 characters)')
    .openapi({ param: { name: 'id', in: 'path' }, example: 'run_3k5n6p0r2s4t7q2m0c4x9d1f8h' }),
});

export const artefactSchema = z
  .object({
    name: z.string(),
    size: z.number().int().openapi({ description: 'Bytes as the node made the artefact.' }),
    sha256: z.string().openapi({ description: 'sha256 as the node made the artefact.' }),
    stored_size: z.number().int().optional().openapi({ description: 'Bytes in storage, when encrypted.' }),
    stored_sha256: z.string().optional().openapi({ description: 'sha256 of the bytes in storage, when encrypted.' }),
  })
  .openapi('Artefact');

export const manifestSchema = z
  .object({
    backup_id: z.string(),
    host: z.string(),
    target: z.string(),
    run_id: z.string(),
    rear_version: z.string().nullable(),
    created: z.string(),
    encryption: z
      .object({ format: z.literal('age'), recipients: z.array(z.string()), key_id: z.string() })
      .nullable()
      .openapi({ description: 'How the stored artefacts are encrypted (decrypt with `age -d -i <identity>`); null if not.' }),
    artefacts: z.array(artefactSchema),
    disks: z
      .array(z.object({ device: z.string(), bytes: z.number().int() }))
      .optional()
      .openapi({ description: 'The disks of the node’s ReaR layout: a restore target needs disks at least this large.' }),
  })
  .openapi('BackupManifest');

const backupFields = {
  id: z.string(),
  name: z.string(),
  location_url: z.string().nullable().openapi({ description: 'Where the artefacts are stored; set once available.' }),
  creation_date: z.string().openapi({ format: 'date-time' }),
  target: z.string(),
  node: z.string(),
  run_id: z.string(),
  state: z.enum(backupStates),
  size: z.number().int().nullable().openapi({ description: 'Total bytes of the artefacts.' }),
  sha256: z.string().nullable().openapi({ description: 'sha256 of the stored manifest, which lists every artefact’s sha256.' }),
  error: z.string().nullable(),
};

export const backupSchema = z.object({ ...backupFields, manifest: manifestSchema.nullable() }).openapi('Backup');

/** A backup as a list shows it: the manifest only when the request asks for it (`include=manifest`). */
export const backupListItemSchema = z
  .object({ ...backupFields, manifest: manifestSchema.nullable().optional() })
  .openapi('BackupListItem');

export const runSchema = z
  .object({
    id: z.string(),
    kind: z.enum(runKinds),
    target: z.string(),
    params: z.record(z.string(), z.unknown()),
    state: z.enum(runStates),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    error: z.string().nullable(),
    requested_by: z.string().nullable(),
    backup_ids: z.array(z.string()),
  })
  .openapi('Run');

export const runEventSchema = z
  .object({
    seq: z.number().int(),
    at: z.string(),
    level: z.enum(eventLevels),
    phase: z.string(),
    host: z.string().nullable(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('RunEvent');

export function backupOut(b: Backup): z.infer<typeof backupSchema> {
  return {
    id: b.id,
    name: b.name,
    location_url: b.locationUrl,
    creation_date: iso(b.creationDate),
    target: b.target,
    node: b.node,
    run_id: b.runId,
    state: b.state,
    size: b.size,
    sha256: b.sha256,
    error: b.error,
    // Manifests recorded before encryption existed have no `encryption` key.
    manifest: b.manifest ? { ...b.manifest, encryption: b.manifest.encryption ?? null } : null,
  };
}

/** A run's params as the API has always spelled them (`stopall: yes|no`, `backup_id`). */
function paramsOut(run: Run): Record<string, unknown> {
  if (run.kind === 'backup') return { stopall: run.params.stopAll ? 'yes' : 'no' };
  if (run.kind === 'restore') return { backup_id: run.params.backupId, node: run.params.node };
  return run.params;
}

export function runOut(run: Run, backups: Backup[]): z.infer<typeof runSchema> {
  return {
    id: run.id,
    kind: run.kind,
    target: run.target,
    params: paramsOut(run),
    state: run.state,
    created_at: iso(run.createdAt),
    started_at: isoOrNull(run.startedAt),
    finished_at: isoOrNull(run.finishedAt),
    error: run.error,
    requested_by: run.requestedBy,
    backup_ids: backups.map((b) => b.id),
  };
}

export function eventOut(e: RunEvent): z.infer<typeof runEventSchema> {
  return { seq: e.seq, at: iso(e.at), level: e.level, phase: e.phase, host: e.host, message: e.message, data: e.data };
}

export const nodeSchema = z
  .object({
    name: z.string().openapi({ description: 'The inventory host name.' }),
    target: z.string(),
    address: z.string(),
    macs: z
      .array(z.string())
      .openapi({ description: 'From the node’s own facts at its last verified backup; what PXE restore boots from.' }),
    ironic_uuid: z.string().nullable().openapi({ description: 'From the inventory (`rearguard_ironic_uuid`), where known.' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Node');

export function nodeOut(n: NodeRecord): z.infer<typeof nodeSchema> {
  return {
    name: n.name,
    target: n.target,
    address: n.address,
    macs: n.macs,
    ironic_uuid: n.ironicUuid,
    updated_at: iso(n.updatedAt),
  };
}
