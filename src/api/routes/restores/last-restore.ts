import { createRoute, z } from '@hono/zod-openapi';
import { lastRestore } from '../../../core/restore/restore-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { restoreOut, restoreSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/restore/last',
  tags: ['restores'],
  summary: 'The newest restore (optionally of one node or backup)',
  request: { query: z.object({ node: z.string().min(1).optional(), backup_id: z.string().min(1).optional() }) },
  responses: {
    200: { description: 'The newest restore', content: { 'application/json': { schema: restoreSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerLastRestore(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const { node, backup_id } = c.req.valid('query');
    return c.json(restoreOut(lastRestore(ctx, { node, backupId: backup_id })), 200);
  });
}
