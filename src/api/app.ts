import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { httpBootServer } from '../boot/http-boot-server.ts';
import { RearguardError } from '../core/errors.ts';
import type { Role } from '../config.ts';
import { requireToken, type AppEnv } from './auth.ts';
import type { Api, ApiDeps } from './deps.ts';
import { registerDocs } from './docs.ts';
import type { HttpLimits } from './http-edge.ts';
import { problemOf, problemOfStatus, problemResponse } from './problem.ts';
import { requestLimits } from './request-limits.ts';
import { requestLog } from './request-log.ts';
import { registerCreateBackup } from './routes/backups/create-backup.ts';
import { registerDeleteBackup } from './routes/backups/delete-backup.ts';
import { registerGetBackup } from './routes/backups/get-backup.ts';
import { registerLastBackup } from './routes/backups/last-backup.ts';
import { registerListBackups } from './routes/backups/list-backups.ts';
import { registerCancelRun } from './routes/runs/cancel-run.ts';
import { registerGetRun } from './routes/runs/get-run.ts';
import { registerListRunEvents } from './routes/runs/list-run-events.ts';
import { registerListNodes } from './routes/nodes/list-nodes.ts';
import { registerHealth } from './routes/system/health.ts';
import { registerCreateRestore } from './routes/restores/create-restore.ts';
import { registerGetRestore } from './routes/restores/get-restore.ts';
import { registerLastRestore } from './routes/restores/last-restore.ts';
import { registerListRestores } from './routes/restores/list-restores.ts';
import { registerValidateStorage } from './routes/storage/validate-storage.ts';

export interface AuthSettings {
  tokens: Array<{ name: string; role: Role; sha256: string }>;
  anonymousRole?: Role;
}

/**
 * The HTTP API: one error shape, validation through one hook, auth on every /v1 route but the docs;
 * every request logged, bounded by the limits, and a known path asked with another method a 405.
 */
export function createApi(deps: ApiDeps, auth: AuthSettings, bootRoot: string, limits: HttpLimits): Api {
  const api: Api = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      const issue = result.error.issues[0]!;
      const field = issue.path.join('.');
      return problemResponse(c, problemOf('invalid', `${field ? `${field}: ` : ''}${issue.message}`, field ? { field } : {}));
    },
  });

  api.onError((err, c) => {
    if (err instanceof RearguardError) return problemResponse(c, problemOf(err.kind, err.message, err.details));
    if (err instanceof HTTPException && err.status < 500) {
      return problemResponse(c, problemOfStatus(err.status, err.message || 'bad request'));
    }
    deps.ctx.log.error({ err, path: c.req.path, requestId: c.get('requestId') }, 'unhandled error');
    return problemResponse(c, problemOfStatus(500, 'internal error; see the daemon log'));
  });
  api.notFound((c) => problemResponse(c, problemOf('not_found', `no route for ${c.req.method} ${c.req.path}`)));

  api.use('*', requestLog(deps.ctx.log), ...requestLimits(limits));
  api.use(
    '*',
    methodNotAllowed({
      app: api,
      onMethodNotAllowed: (c, allowed) =>
        problemResponse(c, problemOfStatus(405, `${c.req.path} takes ${allowed.join(', ')}, not ${c.req.method}`), {
          Allow: allowed.join(', '),
        }),
    }),
  );

  registerHealth(api, deps);
  registerDocs(api);
  api.doc31('/v1/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Rearguard',
      version: '1',
      description:
        'Backup-as-a-service for OpenStack control planes: ReaR images of whole nodes, kept in remote storage, restored by PXE.',
    },
    security: [{ bearer: [] }],
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API token from the config (roles: reader GET, operator POST, admin DELETE).',
  });

  const guard = requireToken(auth.tokens, auth.anonymousRole);
  api.use('/v1/*', async (c, next) => {
    if (c.req.path === '/v1/openapi.json' || c.req.path === '/v1/docs' || c.req.path.startsWith('/v1/docs/')) return next();
    return guard(c, next);
  });

  // `last` before `{id}`: the static route must win.
  registerLastBackup(api, deps);
  registerListBackups(api, deps);
  registerGetBackup(api, deps);
  registerCreateBackup(api, deps);
  registerDeleteBackup(api, deps);
  registerGetRun(api, deps);
  registerListRunEvents(api, deps);
  registerCancelRun(api, deps);
  registerListNodes(api, deps);
  registerLastRestore(api, deps);
  registerListRestores(api, deps);
  registerGetRestore(api, deps);
  registerCreateRestore(api, deps);
  registerValidateStorage(api, deps);
  // Outside /v1, with no token: boot firmware has none.
  api.route('/', httpBootServer(deps.ctx, deps.progress, bootRoot));
  return api;
}
