import { createRoute } from '@hono/zod-openapi';
import { cancelRun, getRun } from '../../../core/runs/run-queries.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { runIdParam, runOut, runSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'post',
  path: '/v1/runs/{id}/cancel',
  tags: ['runs'],
  summary: 'Stop a live run at a safe point; services it stopped are restarted',
  request: { params: runIdParam },
  responses: {
    202: { description: 'Cancel requested; the run ends as `cancelled`', content: { 'application/json': { schema: runSchema } } },
    ...problemResponses(400, 401, 403, 404, 409),
  },
});

export function registerCancelRun(api: Api, { ctx, live }: ApiDeps) {
  api.openapi(route, (c) => {
    const { id } = c.req.valid('param');
    const run = cancelRun(ctx, live, id, c.get('principal').name);
    return c.json(runOut(run, getRun(ctx, id).backups), 202);
  });
}
