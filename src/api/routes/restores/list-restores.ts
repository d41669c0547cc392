import { createRoute, z } from '@hono/zod-openapi';
import { listRestores } from '../../../core/restore/restore-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { restoreStates } from '../../../core/model.ts';
import { restoreOut, restoreSchema, strictInteger } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/restore',
  tags: ['restores'],
  summary: 'The restore history, newest first',
  description: 'Keyset pagination: pass the `next_marker` of a page as `marker` to get the next one.',
  request: {
    query: z.object({
      limit: strictInteger({ min: 1, max: 1000, default: 100 }),
      marker: z.string().min(1).optional().openapi({ description: 'The id of the last restore of the previous page.' }),
      node: z.string().min(1).optional(),
      backup_id: z.string().min(1).optional(),
      state: z.enum(restoreStates).optional(),
    }),
  },
  responses: {
    200: {
      description: 'A page of restores',
      content: {
        'application/json': {
          schema: z.object({ restores: z.array(restoreSchema), next_marker: z.string().nullable() }).openapi('RestorePage'),
        },
      },
    },
    ...problemResponses(400, 401, 403),
  },
});

export function registerListRestores(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const { limit, marker, backup_id, ...filter } = c.req.valid('query');
    const page = listRestores(ctx, { ...filter, backupId: backup_id }, limit, marker);
    return c.json({ restores: page.items.map(restoreOut), next_marker: page.nextMarker }, 200);
  });
}
