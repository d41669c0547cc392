import { createRoute, z } from '@hono/zod-openapi';
import { listBackups } from '../../../core/backup/backup-catalog.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { backupStates } from '../../../core/model.ts';
import { backupListItemSchema, backupOut, strictInteger } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/backup',
  tags: ['backups'],
  summary: 'List backups, newest first',
  description: 'Keyset pagination: pass the `next_marker` of a page as `marker` to get the next one.',
  request: {
    query: z.object({
      limit: strictInteger({ min: 1, max: 1000, default: 100 }),
      marker: z.string().min(1).optional().openapi({ description: 'The id of the last backup of the previous page.' }),
      target: z.string().min(1).optional(),
      node: z.string().min(1).optional(),
      state: z.enum(backupStates).optional(),
      include: z
        .literal('manifest')
        .optional()
        .openapi({ description: '`manifest` adds each backup’s manifest (GET /v1/backup/{id} always has it).' }),
    }),
  },
  responses: {
    200: {
      description: 'A page of backups',
      content: {
        'application/json': {
          schema: z.object({ backups: z.array(backupListItemSchema), next_marker: z.string().nullable() }).openapi('BackupPage'),
        },
      },
    },
    ...problemResponses(400, 401, 403),
  },
});

export function registerListBackups(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, (c) => {
    const { limit, marker, include, ...filter } = c.req.valid('query');
    const manifests = include === 'manifest';
    const page = listBackups(ctx, filter, { limit, marker, manifests });
    const items = page.items.map((b) => {
      const { manifest, ...rest } = backupOut(b);
      return manifests ? { ...rest, manifest } : rest;
    });
    return c.json({ backups: items, next_marker: page.nextMarker }, 200);
  });
}
