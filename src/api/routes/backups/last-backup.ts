import { createRoute, z } from '@hono/zod-openapi';
import { lastBackup } from '../../../core/backup/backup-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { backupOut, backupSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/backup/last',
  tags: ['backups'],
  summary: 'The newest usable (available) backup',
  request: {
    query: z.object({ target: z.string().min(1).optional(), node: z.string().min(1).optional() }),
  },
  responses: {
    200: { description: 'The newest available backup', content: { 'application/json': { schema: backupSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerLastBackup(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => c.json(backupOut(lastBackup(ctx, c.req.valid('query'))), 200));
}
