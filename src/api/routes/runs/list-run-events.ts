import { createRoute, z } from '@hono/zod-openapi';
import { runEvents } from '../../../core/run-queries.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { eventOut, runEventSchema, runIdParam } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/runs/{id}/events',
  tags: ['runs'],
  summary: 'A run’s events in order; poll with `after` = the last seq seen',
  request: {
    params: runIdParam,
    query: z.object({
      after: z.coerce.number().int().min(0).default(0),
      limit: z.coerce.number().int().min(1).max(5000).default(1000),
    }),
  },
  responses: {
    200: { description: 'Events', content: { 'application/json': { schema: z.object({ events: z.array(runEventSchema) }) } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerListRunEvents(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const { after, limit } = c.req.valid('query');
    return c.json({ events: runEvents(ctx, c.req.valid('param').id, after, limit).map(eventOut) }, 200);
  });
}
