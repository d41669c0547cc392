import { createRoute } from '@hono/zod-openapi';
import { getBackup } from '../../../core/backup/backup-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { backupIdParam, backupOut, backupSchema } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/backup/{id}',
  tags: ['backups'],
  summary: 'One backup',
  request: { params: backupIdParam },
  responses: {
    200: { description: 'The backup', content: { 'application/json': { schema: backupSchema } } },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerGetBackup(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => c.json(backupOut(getBackup(ctx, c.req.valid('param').id)), 200));
}
