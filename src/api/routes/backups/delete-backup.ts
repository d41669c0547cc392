import { createRoute } from '@hono/zod-openapi';
import { deleteBackup } from '../../../core/backup/backup-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { backupIdParam } from '../../schemas.ts';

const route = createRoute({
  method: 'delete',
  path: '/v1/backup/{id}',
  tags: ['backups'],
  summary: 'Delete a backup: its stored artefacts, then its record',
  description: 'Backups are immutable: there is no update. A backup being made or restored cannot be deleted (409).',
  request: { params: backupIdParam },
  responses: {
    204: { description: 'Deleted' },
    ...problemResponses(400, 401, 403, 404, 409, 503),
  },
});

export function registerDeleteBackup(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, async (c) => {
    await deleteBackup(ctx, c.req.valid('param').id);
    return c.body(null, 204);
  });
}
