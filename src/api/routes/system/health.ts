import { createRoute, z } from '@hono/zod-openapi';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';

const status = z.object({ status: z.string() }).openapi('Status');

const healthz = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['system'],
  summary: 'Liveness: the process answers',
  security: [],
  responses: { 200: { description: 'Alive', content: { 'application/json': { schema: status } } } },
});

const readyz = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['system'],
  summary: 'Readiness: start-up recovery is done and the database answers',
  security: [],
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: status } } },
    ...problemResponses(503),
  },
});

export function registerHealth(api: Api, { ctx, isReady }: ApiDeps) {
  api.openapi(healthz, (c) => c.json({ status: 'ok' }, 200));
  api.openapi(readyz, (c) => {
    if (!isReady()) {
      return c.json(
        {
          type: 'https://rearguard.dev/problems/unavailable',
          title: 'Service Unavailable',
          status: 503,
          detail: 'start-up recovery is still running',
        },
        503,
        { 'Content-Type': 'application/problem+json' },
      );
    }
    ctx.records.ping();
    return c.json({ status: 'ready' }, 200);
  });
}
