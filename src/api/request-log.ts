import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../core/ports.ts';
import type { AppEnv } from './auth.ts';

/** What a client may name its request by; anything else is replaced, never logged as sent. */
const saneRequestId = /^[A-Za-z0-9._:@+=-]{1,128}$/;

/** The calls that create, cancel or delete: each gets an audit line. */
const audited = new Set([
  'POST /v1/backup/:target',
  'DELETE /v1/backup/:id',
  'POST /v1/runs/:id/cancel',
  'POST /v1/restore/:id/:nodeid',
]);

/**
 * Gives every request an id (the client's `X-Request-Id` if sane, echoed back), then logs one
 * access line when it is answered: method, path (never the query, which could carry a secret),
 * status, principal, duration; never a header. Creates, cancels and deletes also get an audit line
 * saying who did it, refusals included.
 */
export function requestLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const sent = c.req.header('x-request-id');
    const requestId = sent && saneRequestId.test(sent) ? sent : crypto.randomUUID();
    c.set('requestId', requestId);
    await next();
    c.res.headers.set('X-Request-Id', requestId);
    const line = {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      principal: c.get('principal')?.name ?? null,
      ms: Math.round((performance.now() - started) * 10) / 10,
    };
    log.info(line, 'http request');
    const action = `${c.req.method} ${routePath(c, -1)}`;
    if (audited.has(action)) {
      const location = c.res.headers.get('location') ?? undefined;
      log.info({ ...line, audit: true, action, location }, c.res.ok ? 'audit: done' : 'audit: refused');
    }
  };
}
