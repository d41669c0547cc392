import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from './auth.ts';
import type { HttpLimits } from './http-edge.ts';
import { problemOfStatus, problemResponse } from './problem.ts';

/** The configured limits of a request's target, headers and body: 414, 431 and 413, each a problem+json. */
export function requestLimits(limits: HttpLimits): MiddlewareHandler<AppEnv>[] {
  const headLimits: MiddlewareHandler<AppEnv> = async (c, next) => {
    const url = new URL(c.req.url);
    if (url.pathname.length + url.search.length > limits.maxUrlBytes) {
      return problemResponse(c, problemOfStatus(414, `the request target exceeds ${limits.maxUrlBytes} bytes`));
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, name) => (headerBytes += name.length + value.length + 4));
    if (headerBytes > limits.maxHeaderBytes) {
      return problemResponse(c, problemOfStatus(431, `the request headers exceed ${limits.maxHeaderBytes} bytes`));
    }
    await next();
  };
  const body = bodyLimit({
    maxSize: limits.maxBodyBytes,
    onError: (c) => problemResponse(c, problemOfStatus(413, `the request body exceeds ${limits.maxBodyBytes} bytes`)),
  });
  return [headLimits, body];
}
