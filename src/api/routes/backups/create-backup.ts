import { createRoute, z } from '@hono/zod-openapi';
import { startBackup } from '../../../core/backup/start-backup.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { runOut, runSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'post',
  path: '/v1/backup/{target}',
  tags: ['backups'],
  summary: 'Back up every node of a target in one run',
  description:
    'Starts one run that yields one backup per node of the target (the overcloud: one per controller). ' +
    '`stopall=no` quiesces one node at a time; `stopall=yes` stops all for one consistent point. ' +
    'Send an `Idempotency-Key` to make retries safe: the same key returns the same run.',
  request: {
    params: z.object({ target: z.string().openapi({ param: { name: 'target', in: 'path' }, example: 'undercloud' }) }),
    query: z.object({ stopall: z.enum(['no', 'yes']).default('no') }),
    headers: z.object({ 'idempotency-key': z.string().min(1).max(200).optional() }),
  },
  responses: {
    202: {
      description: 'The run was started (or, for a repeated Idempotency-Key, the earlier run)',
      headers: { Location: { schema: { type: 'string' }, description: 'The run' } },
      content: {
        'application/json': {
          schema: z.object({ run: runSchema, backup_ids: z.array(z.string()) }).openapi('StartedBackup'),
        },
      },
    },
    ...problemResponses(400, 401, 403, 404, 409, 422),
  },
});

export function registerCreateBackup(api: Api, { ctx, live }: ApiDeps) {
  api.openapi(route, async (c) => {
    const started = await startBackup(ctx, live, {
      target: c.req.valid('param').target,
      stopall: c.req.valid('query').stopall,
      requestedBy: c.get('principal').name,
      idempotencyKey: c.req.valid('header')['idempotency-key'],
    });
    c.header('Location', `/v1/runs/${started.run.id}`);
    if (!started.created) c.header('Idempotent-Replayed', 'true');
    return c.json({ run: runOut(started.run, started.backups), backup_ids: started.backups.map((b) => b.id) }, 202);
  });
}
