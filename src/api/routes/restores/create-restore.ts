import { createRoute, z } from '@hono/zod-openapi';
import { startRestore } from '../../../core/restore/start-restore.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { backupIdParam, restoreOut, restoreSchema, runOut, runSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'post',
  path: '/v1/restore/{id}/{nodeid}',
  tags: ['restores'],
  summary: 'Restore a node from a backup by network-booting it into the backup’s rescue image',
  description:
    'Stages the backup’s kernel and initrd and the node’s boot configs (pxelinux, GRUB, iPXE), powers the node into its ' +
    'network boot, and follows it until ReaR’s unattended recover ends. The boot configs are removed when the restore ends, ' +
    'whatever the outcome. `nodeid` is a node name or Ironic UUID (GET /v1/nodes). Send an `Idempotency-Key` to make retries safe.',
  request: {
    params: backupIdParam.extend({
      nodeid: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9._:-]+$/, 'not a node name or Ironic UUID')
        .openapi({ param: { name: 'nodeid', in: 'path' }, example: 'controller-0' }),
    }),
    query: z.object({
      allow_other_node: z
        .enum(['true', 'false'])
        .default('false')
        .openapi({ description: 'Restore a backup of one node onto another (e.g. replacement hardware).' }),
    }),
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
  },
  responses: {
    202: {
      description: 'The restore was started (or, for a repeated Idempotency-Key, the earlier one)',
      headers: { Location: { schema: { type: 'string' }, description: 'The restore' } },
      content: {
        'application/json': { schema: z.object({ restore: restoreSchema, run: runSchema }).openapi('StartedRestore') },
      },
    },
    ...problemResponses(400, 401, 403, 404, 409, 422),
  },
});

export function registerCreateRestore(api: Api, { ctx, live, progress }: ApiDeps) {
  api.openapi(route, async (c) => {
    const { id, nodeid } = c.req.valid('param');
    const started = await startRestore(ctx, live, progress, {
      backupId: id,
      nodeId: nodeid,
      allowOtherNode: c.req.valid('query').allow_other_node === 'true',
      requestedBy: c.get('principal').name,
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    });
    c.header('Location', `/v1/restore/${started.restore.id}`);
    if (!started.created) c.header('Idempotent-Replayed', 'true');
    return c.json({ restore: restoreOut(started.restore), run: runOut(started.run, []) }, 202);
  });
}
