import { createRoute, z } from '@hono/zod-openapi';
import { listNodes } from '../../../core/nodes/node-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { nodeOut, nodeSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/nodes',
  tags: ['nodes'],
  summary: 'The nodes backed up so far, by name',
  description: 'A node is recorded when a run on its target starts; its MACs once one of its backups was verified.',
  request: {
    query: z.object({ target: z.string().min(1).optional() }),
  },
  responses: {
    200: {
      description: 'The nodes',
      content: { 'application/json': { schema: z.object({ nodes: z.array(nodeSchema) }).openapi('NodeList') } },
    },
    ...problemResponses(400, 401, 403),
  },
});

export function registerListNodes(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const filter = c.req.valid('query');
    return c.json({ nodes: listNodes(ctx, filter).map(nodeOut) }, 200);
  });
}
