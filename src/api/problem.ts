import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorKind } from '../core/errors.ts';

/** RFC 9457 problem details: the one error shape of the whole API. */
export const problemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://rearguard.dev/problems/conflict' }),
    title: z.string().openapi({ example: 'Conflict' }),
    status: z.number().int().openapi({ example: 409 }),
    detail: z.string().openapi({ example: 'a backup run is already live on overcloud: run_…' }),
    field: z.string().optional().openapi({ description: 'The request field that was wrong, when one was.' }),
    run_id: z.string().optional().openapi({ description: 'The run the problem is about, e.g. the live run behind a 409.' }),
  })
  .openapi('Problem');

export type Problem = z.infer<typeof problemSchema>;

const byKind: Record<ErrorKind, { status: ContentfulStatusCode; title: string }> = {
  invalid: { status: 400, title: 'Bad Request' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not Found' },
  conflict: { status: 409, title: 'Conflict' },
  unprocessable: { status: 422, title: 'Unprocessable Content' },
  unavailable: { status: 503, title: 'Service Unavailable' },
};

export function problemOf(kind: ErrorKind, detail: string, extras: Record<string, unknown> = {}): Problem {
  const { status, title } = byKind[kind];
  return { type: `https://rearguard.dev/problems/${kind.replace('_', '-')}`, title, status, detail, ...extras };
}

export function problemResponse(c: Context, problem: Problem): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    'Content-Type': 'application/problem+json',
  });
}

/** The error responses a route may document, each the same schema. */
export function problemResponses<const S extends readonly (400 | 401 | 403 | 404 | 409 | 422 | 503)[]>(...statuses: S) {
  const descriptions: Record<number, string> = {
    400: 'The request is malformed; `field` names what was wrong.',
    401: 'No valid API token.',
    403: 'The token’s role may not do this.',
    404: 'No such resource.',
    409: 'Conflicts with the current state (e.g. a live run).',
    422: 'Understood, but cannot be done.',
    503: 'A dependency (storage) is unavailable now; retry later.',
  };
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: descriptions[s]!, content: { 'application/problem+json': { schema: problemSchema } } },
    ]),
  ) as { [K in S[number]]: { description: string; content: { 'application/problem+json': { schema: typeof problemSchema } } } };
}
