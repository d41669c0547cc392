import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newId } from '../../src/core/ids.ts';
import { client, startTestDaemon, tokens, Workspace } from '../harness/test-daemon.ts';

const ws = new Workspace();
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  d = await startTestDaemon(ws);
});
afterAll(async () => {
  await d?.stop();
  ws.remove();
});

describe('API tokens and roles', () => {
  test('no token: 401 problem with a WWW-Authenticate challenge', async () => {
    const res = await d.request('GET', '/v1/backup', { role: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  test('a wrong token is 401 and is not echoed back', async () => {
    const res = await d.request('GET', '/v1/backup', {
      role: null,
      headers: { authorization: 'Bearer not-a-real-token-at-all' },
    });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('not-a-real-token-at-all');
  });

  test('reader may read, not start runs or delete', async () => {
    expect((await d.request('GET', '/v1/backup', { role: 'reader' })).status).toBe(200);
    expect((await d.request('POST', '/v1/backup/undercloud', { role: 'reader' })).status).toBe(403);
    expect((await d.request('DELETE', `/v1/backup/${newId('bk')}`, { role: 'reader' })).status).toBe(403);
  });

  test('operator may start runs, not delete; admin may delete', async () => {
    expect((await d.request('DELETE', `/v1/backup/${newId('bk')}`, { role: 'operator' })).status).toBe(403);
    expect((await d.request('DELETE', `/v1/backup/${newId('bk')}`, { role: 'admin' })).status).toBe(404);
    // An unknown target passes auth and fails in the domain: the operator got through.
    expect((await d.request('POST', '/v1/backup/nowhere', { role: 'operator' })).status).toBe(404);
  });

  test('health, the OpenAPI document and the docs page need no token; the docs assets are served locally', async () => {
    expect((await d.request('GET', '/healthz', { role: null })).status).toBe(200);
    expect((await d.request('GET', '/readyz', { role: null })).status).toBe(200);
    const doc = await (await d.request('GET', '/v1/openapi.json', { role: null })).json();
    expect(doc.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/backup',
      '/v1/backup/{id}',
      '/v1/backup/last',
      '/v1/backup/{target}',
      '/v1/runs/{id}',
      '/v1/runs/{id}/events',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths['/v1/backup/{id}']).not.toHaveProperty('put');
    expect(doc.paths['/v1/backup/{id}']).not.toHaveProperty('patch');
    const page = await (await d.request('GET', '/v1/docs', { role: null })).text();
    expect(page).not.toMatch(/https?:\/\//);
    for (const asset of page.matchAll(/(?:src|href)="([^"]+)"/g)) {
      expect((await d.request('GET', asset[1]!, { role: null })).status, asset[1]).toBe(200);
    }
  });
});

describe('tokens never reach the log', () => {
  test('a request with a token logs no part of it', async () => {
    const lines: string[] = [];
    const quiet = new Workspace();
    const loud = await startTestDaemon(quiet, { log: { level: 'trace' } }, lines);
    const c = client(loud.url);
    await c.request('GET', '/v1/backup', { role: 'admin' });
    await c.request('GET', '/v1/backup', { role: null, headers: { authorization: 'Bearer wrong-token-wrong-token' } });
    await c.request('POST', '/v1/backup/undercloud', { role: 'operator' });
    await loud.live.settled();
    await loud.stop();
    quiet.remove();
    const text = lines.join('');
    expect(text).toContain('rearguard listening');
    for (const t of [...Object.values(tokens), 'wrong-token-wrong-token']) expect(text).not.toContain(t);
  });
});
