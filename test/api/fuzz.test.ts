import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestDaemon, tokens, Workspace } from '../harness/test-daemon.ts';
import { fuzzApi } from './fuzz.ts';

const ws = new Workspace();
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  d = await startTestDaemon(ws);
});
afterAll(async () => {
  await d?.stop();
  ws.remove();
});

// The short seeded case of `npm run fuzz` (bench/fuzz-api.ts): same requests every run.
test('500 fuzzed requests: no 5xx, no hang, every error a declared problem+json', async () => {
  const report = await fuzzApi({ baseUrl: d.url, seed: 15, requests: 500, tokens, runStarts: 1 });
  expect(report.failures).toEqual([]);
  expect(report.hangs).toBe(0);
  // The mix reaches past auth and validation: successes, refusals and the edge's own answers.
  for (const status of [200, 400, 401, 404, 405]) expect(report.byStatus[status]).toBeGreaterThan(0);
});
