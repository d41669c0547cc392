import { createRoute, z } from '@hono/zod-openapi';
import { checkStorage } from '../../../core/backup/storage-check.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';

const route = createRoute({
  method: 'post',
  path: '/v1/storage/validate',
  tags: ['storage'],
  summary: 'Check that the configured storage can take a backup now',
  description:
    'Writes and removes a probe object where backups go. `writable: false` comes with the storage’s own reason ' +
    '(unreachable endpoint, refused credentials, missing bucket or directory, no room).',
  responses: {
    200: {
      description: 'The outcome of the check',
      content: {
        'application/json': {
          schema: z
            .object({
              location: z.string().openapi({ description: 'Where backups are written.' }),
              writable: z.boolean(),
              error: z.string().nullable(),
              ms: z.number().int(),
            })
            .openapi('StorageCheck'),
        },
      },
    },
    ...problemResponses(401, 403),
  },
});

export function registerValidateStorage(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, async (c) => c.json(await checkStorage(ctx), 200));
}
