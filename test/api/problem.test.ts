import { Hono } from 'hono';
import { describe, expect, test } from 'vitest';
import { problemOf, problemResponse } from '../../src/api/problem.ts';
import type { ErrorKind } from '../../src/core/errors.ts';

const statusOf: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
};

describe('problem+json', () => {
  test.each(Object.entries(statusOf) as Array<[ErrorKind, number]>)('%s is a %i with its own type', (kind, status) => {
    const p = problemOf(kind, 'what was wrong', { field: 'stopall' });
    expect(p).toMatchObject({ status, detail: 'what was wrong', field: 'stopall' });
    expect(p.type).toBe(`https://rearguard.dev/problems/${kind.replace('_', '-')}`);
    expect(p.title).toMatch(/^[A-Z]/);
  });

  test('is sent with its status and the problem media type', async () => {
    const app = new Hono().get('/', (c) => problemResponse(c, problemOf('conflict', 'a run is live', { run_id: 'run_1' })));
    const res = await app.request('/');
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toEqual({
      type: 'https://rearguard.dev/problems/conflict',
      title: 'Conflict',
      status: 409,
      detail: 'a run is live',
      run_id: 'run_1',
    });
  });
});
