import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, tokens, Workspace } from '../harness/test-daemon.ts';

const ws = new Workspace();
const logLines: string[] = [];
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  d = await startTestDaemon(
    ws,
    { log: { level: 'info' }, http: { maxUrlBytes: 4096, maxHeaderBytes: 8192, maxBodyBytes: 1024 } },
    logLines,
  );
});
afterAll(async () => {
  await d?.stop();
  ws.remove();
});

/** What no HTTP client library would send: the raw bytes, and the raw answer (or the socket error). */
function raw(request: string): Promise<{ status: number; headers: string; body: any; error?: string }> {
  const { hostname, port } = new URL(d.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    let error: string | undefined;
    socket.on('data', (b) => (text += b.toString('latin1')));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(head.slice(9, 12)), headers: head.toLowerCase(), body: body && JSON.parse(body), error });
    });
    socket.write(request);
  });
}
const auth = `Host: x\r\nAuthorization: Bearer ${tokens.admin}\r\nConnection: close\r\n`;

describe('the HTTP edge answers every error with problem+json', () => {
  test.each([
    ['Idempotency-Key', 'POST /v1/backup/undercloud'],
    ['Last-Event-ID', 'GET /v1/runs/run_3k5n6p0r2s4t7q2m0c4x9d1f8h/events'],
  ])('a NUL byte in %s: 400 with a body (it was a bare 400)', async (header, call) => {
    const res = await raw(`${call} HTTP/1.1\r\n${auth}${header}: a\0b\r\n\r\n`);
    expect(res.status).toBe(400);
    expect(res.headers).toContain('content-type: application/problem+json');
    expect(res.body).toMatchObject({ status: 400, title: 'Bad Request', detail: expect.stringContaining('header value') });
  });

  test('a 64 KiB URL: 414 with a body, read before the socket closes (it was 431 and a reset)', async () => {
    const res = await raw(`GET /v1/backup?marker=${'a'.repeat(65_536)} HTTP/1.1\r\n${auth}\r\n`);
    expect(res).toMatchObject({ status: 414, body: { status: 414, detail: 'the request target exceeds 4096 bytes' } });
    expect(res.error).toBeUndefined();
  });

  test('a URL just over the limit is 414 from the app, with the request id', async () => {
    const res = await d.request('GET', `/v1/backup?marker=${'a'.repeat(4096)}`);
    expect(res.status).toBe(414);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test.each([9000, 40_000])('headers of %i bytes: 431 with a body', async (size) => {
    const res = await raw(`GET /v1/backup HTTP/1.1\r\n${auth}X-Filler: ${'f'.repeat(size)}\r\n\r\n`);
    expect(res).toMatchObject({ status: 431, body: { status: 431, title: 'Request Header Fields Too Large' } });
  });

  test('a body over the limit: 413 with a body', async () => {
    const res = await raw(`POST /v1/storage/validate HTTP/1.1\r\n${auth}Content-Length: 2048\r\n\r\n${'x'.repeat(2048)}`);
    expect(res).toMatchObject({ status: 413, body: { status: 413, detail: 'the request body exceeds 1024 bytes' } });
  });

  test('a known path with another method: 405 with Allow (it was 404)', async () => {
    const res = await d.request('PUT', '/v1/backup');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toMatchObject({ status: 405, title: 'Method Not Allowed' });
    expect((await d.request('GET', '/v1/storage/validate')).headers.get('allow')).toBe('POST');
  });

  test('boot routes answer errors as problem+json too', async () => {
    const res = await d.request('GET', '/boot/ipxe/not-a-mac', { role: null });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ status: 404, detail: 'not a MAC address' });
    const report = await d.request('POST', '/boot/rs_0c4x9d1f8h3k5n6p0r2s4t7q2m/report/nonsense', { role: null });
    expect(report.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('query numbers are parsed strictly', () => {
  test.each([
    ['limit=1e3', 'limit: expected a decimal integer (digits only)'],
    ['limit=0x10', 'limit: expected a decimal integer (digits only)'],
    ['limit=%205', 'limit: expected a decimal integer (digits only)'],
    ['limit=', 'limit: expected a decimal integer (digits only)'],
    ['limit=1&limit=2', 'limit: expected one value, got 2'],
    ['limit=1001', 'limit: must be at most 1000'],
    ['limit=0', 'limit: must be at least 1'],
  ])('GET /v1/backup?%s is a 400 naming the field', async (query, detail) => {
    const res = await d.request('GET', `/v1/backup?${query}`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'limit', detail });
  });

  test('digits are taken, on every route that pages', async () => {
    for (const path of [
      '/v1/backup?limit=007',
      '/v1/restore?limit=5',
      '/v1/runs/run_3k5n6p0r2s4t7q2m0c4x9d1f8h/events?after=3',
    ]) {
      expect((await d.request('GET', path)).status).not.toBe(400);
    }
    const res = await d.request('GET', '/v1/runs/run_3k5n6p0r2s4t7q2m0c4x9d1f8h/events?after=1.5');
    expect(await res.json()).toMatchObject({ status: 400, field: 'after' });
  });
});

describe('access and audit log', () => {
  const lines = () => logLines.map((l) => JSON.parse(l));

  test('one access line per request, with the request id sent, the principal and never the token or query', async () => {
    const res = await d.request('GET', '/v1/backup?node=secret-ish', { role: 'reader', headers: { 'x-request-id': 'req-42' } });
    expect(res.headers.get('x-request-id')).toBe('req-42');
    const line = lines().find((l) => l.requestId === 'req-42');
    expect(line).toMatchObject({
      msg: 'http request',
      method: 'GET',
      path: '/v1/backup',
      status: 200,
      principal: 'reader-client',
    });
    expect(line.ms).toBeGreaterThanOrEqual(0);
    expect(logLines.join('')).not.toContain(tokens.reader);
    expect(logLines.join('')).not.toContain('secret-ish');
  });

  test('a request id that is not sane is replaced', async () => {
    const res = await d.request('GET', '/healthz', { headers: { 'x-request-id': 'a b<script>' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('deletes and cancels are audited with who did them, refusals too', async () => {
    await d.request('DELETE', '/v1/backup/bk_7q2m0c4x9d1f8h3k5n6p0r2s4t', {
      role: 'reader',
      headers: { 'x-request-id': 'del-1' },
    });
    await d.request('POST', '/v1/runs/run_3k5n6p0r2s4t7q2m0c4x9d1f8h/cancel', {
      role: 'operator',
      headers: { 'x-request-id': 'cancel-1' },
    });
    expect(lines().find((l) => l.requestId === 'del-1' && l.audit)).toMatchObject({
      msg: 'audit: refused',
      action: 'DELETE /v1/backup/:id',
      principal: 'reader-client',
      status: 403,
    });
    expect(lines().find((l) => l.requestId === 'cancel-1' && l.audit)).toMatchObject({
      action: 'POST /v1/runs/:id/cancel',
      principal: 'operator-client',
      status: 404,
    });
  });

  test('a request refused without a token is logged with no principal', async () => {
    await d.request('GET', '/v1/nodes', { role: null, headers: { 'x-request-id': 'anon-1' } });
    expect(lines().find((l) => l.requestId === 'anon-1')).toMatchObject({ status: 401, principal: null });
  });
});
