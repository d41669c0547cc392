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

const statusOfKind: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

/** Every status the API answers with an error, the edge's own (no domain error has them) included. */
const problemTypes: Record<number, { type: string; title: string }> = {
  400: { type: 'invalid', title: 'Bad Request' },
  401: { type: 'unauthorized', title: 'Unauthorized' },
  403: { type: 'forbidden', title: 'Forbidden' },
  404: { type: 'not-found', title: 'Not Found' },
  405: { type: 'method-not-allowed', title: 'Method Not Allowed' },
  408: { type: 'request-timeout', title: 'Request Timeout' },
  409: { type: 'conflict', title: 'Conflict' },
  413: { type: 'content-too-large', title: 'Content Too Large' },
  414: { type: 'uri-too-long', title: 'URI Too Long' },
  416: { type: 'range-not-satisfiable', title: 'Range Not Satisfiable' },
  422: { type: 'unprocessable', title: 'Unprocessable Content' },
  431: { type: 'header-fields-too-large', title: 'Request Header Fields Too Large' },
  500: { type: 'internal', title: 'Internal Server Error' },
  503: { type: 'unavailable', title: 'Service Unavailable' },
};

/** The problem of a status; an unlisted one gets its class's (4xx: 400, 5xx: 500) type and title. */
export function problemOfStatus(status: number, detail: string, extras: Record<string, unknown> = {}): Problem {
  const { type, title } = problemTypes[status] ?? problemTypes[status < 500 ? 400 : 500]!;
  return { type: `https://rearguard.dev/problems/${type}`, title, status, detail, ...extras };
}

export function problemOf(kind: ErrorKind, detail: string, extras: Record<string, unknown> = {}): Problem {
  return problemOfStatus(statusOfKind[kind], detail, extras);
}

export function problemResponse(c: Context, problem: Problem, headers: Record<string, string> = {}): Response {
  return c.body(JSON.stringify(problem), problem.status as ContentfulStatusCode, {
    ...headers,
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
