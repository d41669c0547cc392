import type { OpenAPIHono } from '@hono/zod-openapi';
import type { CoreContext } from '../core/context.ts';
import type { LiveRuns } from '../core/runs/live-runs.ts';
import type { RestoreProgress } from '../core/restore/restore-progress.ts';
import type { AppEnv } from './auth.ts';

/** What route handlers reach: the core and the live runs. Nothing else. */
export interface ApiDeps {
  ctx: CoreContext;
  live: LiveRuns;
  progress: RestoreProgress;
  isReady: () => boolean;
}

export type Api = OpenAPIHono<AppEnv>;
