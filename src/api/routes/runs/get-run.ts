import { createRoute, z } from '@hono/zod-openapi';
import { getRun, runEvents } from '../../../core/runs/run-queries.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { eventOut, runEventSchema, runIdParam, runOut, runSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/runs/{id}',
  tags: ['runs'],
  summary: 'One run, with its first events (the live log)',
  request: { params: runIdParam },
  responses: {
    200: {
      description: 'The run',
      content: {
        'application/json': { schema: runSchema.extend({ events: z.array(runEventSchema) }).openapi('RunWithEvents') },
      },
    },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerGetRun(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const { id } = c.req.valid('param');
    const { run, backups } = getRun(ctx, id);
    return c.json({ ...runOut(run, backups), events: runEvents(ctx, id, 0, 1000).map(eventOut) }, 200);
  });
}
