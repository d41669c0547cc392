import { createRoute } from '@hono/zod-openapi';
import { getRestore } from '../../../core/restore/restore-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { restoreIdParam, restoreOut, restoreSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/restore/{id}',
  tags: ['restores'],
  summary: 'One restore, with the time of each phase',
  request: { params: restoreIdParam },
  responses: {
    200: { description: 'The restore', content: { 'application/json': { schema: restoreSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerGetRestore(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => c.json(restoreOut(getRestore(ctx, c.req.valid('param').id)), 200));
}
