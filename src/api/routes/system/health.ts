import { createRoute, z } from '@hono/zod-openapi';
import type { Api, ApiDeps } from '../../deps.ts';
import { RearguardError } from '../../../core/errors.ts';
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
    if (!isReady()) throw new RearguardError('unavailable', 'start-up recovery is still running');
    ctx.records.ping();
    return c.json({ status: 'ready' }, 200);
  });
}
