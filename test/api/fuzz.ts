import { connect } from 'node:net';

/**
 * A schema-driven fuzzer of the HTTP API. It reads the served OpenAPI document and, for every
 * route and method (and the routes the document leaves out: docs, boot files), sends requests
 * with and without a token whose path params, query strings, headers and bodies are valid or
 * mutated (wrong types, huge, duplicated, unicode, percent-encoded NULs, raw control bytes in
 * headers). Requests go over raw sockets so that what no HTTP client would send can be sent.
 * Request i is made from its own PRNG seeded with (seed, i): any one reproduces alone.
 *
 * Each answer is checked: no 5xx, no hang (per-request timeout), every non-2xx an
 * application/problem+json whose `status` is the HTTP status and is one the document declares
 * for the route (or a status of the HTTP edge).
 */

export interface FuzzOptions {
  baseUrl: string;
  seed: number;
  requests: number;
  tokens: Record<string, string>;
  concurrency?: number;
  timeoutMs?: number;
  /** How many requests may start a real backup run (a valid target with an operator token). */
  runStarts?: number;
}

export interface FuzzFailure {
  index: number;
  why: string;
  request: string;
  status: number | null;
  body: string;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  byStatus: Record<number, number>;
  hangs: number;
  failures: FuzzFailure[];
  ms: { p50: number; p99: number; max: number };
}

/** Statuses the edge may answer on any route: malformed, unknown, wrong method, too large. */
export const edgeStatuses = [400, 404, 405, 413, 414, 431];

interface Operation {
  method: string;
  path: string;
  params: Array<{ name: string; in: 'path' | 'query' | 'header'; schema: Schema }>;
  statuses: Set<number>;
  body: boolean;
}

interface Schema {
  type?: string;
  enum?: string[];
  pattern?: string;
  example?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

/** Routes outside the document: the docs page and the HTTP boot server firmware uses. */
const undocumented: Operation[] = [
  { method: 'get', path: '/v1/openapi.json', params: [], statuses: new Set([200]), body: false },
  { method: 'get', path: '/v1/docs', params: [], statuses: new Set([200]), body: false },
  {
    method: 'get',
    path: '/v1/docs/{asset}',
    params: [{ name: 'asset', in: 'path', schema: { enum: ['swagger-ui.css', 'init.js', 'favicon-32x32.png'] } }],
    statuses: new Set([200, 404]),
    body: false,
  },
  { method: 'get', path: '/boot/ipxe', params: [], statuses: new Set([200]), body: false },
  {
    method: 'get',
    path: '/boot/ipxe/{mac}',
    params: [{ name: 'mac', in: 'path', schema: { example: '52:54:00:12:34:56' } }],
    statuses: new Set([200, 404]),
    body: false,
  },
  {
    method: 'get',
    path: '/boot/{id}/files/{name}',
    params: [
      { name: 'id', in: 'path', schema: { example: 'rs_0c4x9d1f8h3k5n6p0r2s4t7q2m' } },
      { name: 'name', in: 'path', schema: { enum: ['kernel', 'initrd.cgz', 'rearguard.cpio'] } },
      { name: 'range', in: 'header', schema: { example: 'bytes=0-99' } },
    ],
    statuses: new Set([200, 206, 404, 416]),
    body: false,
  },
  {
    method: 'get',
    path: '/boot/{id}/archive',
    params: [{ name: 'id', in: 'path', schema: { example: 'rs_0c4x9d1f8h3k5n6p0r2s4t7q2m' } }],
    statuses: new Set([200, 404]),
    body: false,
  },
  {
    method: 'post',
    path: '/boot/{id}/report/{what}',
    params: [
      { name: 'id', in: 'path', schema: { example: 'rs_0c4x9d1f8h3k5n6p0r2s4t7q2m' } },
      {
        name: 'what',
        in: 'path',
        schema: { enum: ['rescue_booted', 'archive_fetched', 'archive_mismatch', 'recovered', 'recover_failed'] },
      },
    ],
    statuses: new Set([204, 404]),
    body: true,
  },
];

export async function fuzzApi(opts: FuzzOptions): Promise<FuzzReport> {
  const { baseUrl, seed, requests, concurrency = 8, timeoutMs = 10_000 } = opts;
  const doc = (await (await fetch(`${baseUrl}/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, any>> };
  const operations = [...documented(doc), ...undocumented];
  const methodsOfPath = new Map<string, Operation[]>();
  for (const op of operations) methodsOfPath.set(op.path, [...(methodsOfPath.get(op.path) ?? []), op]);
  const anyStatus = new Set(operations.flatMap((o) => [...o.statuses]));
  const url = new URL(baseUrl);
  let runStarts = opts.runStarts ?? 0;

  const report: FuzzReport = { seed, requests, byStatus: {}, hangs: 0, failures: [], ms: { p50: 0, p99: 0, max: 0 } };
  const durations: number[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < requests; i = next++) {
      const rnd = prng(seed, i);
      const op = rnd.pick(operations);
      const req = makeRequest(rnd, op, opts.tokens, url.host);
      // A valid target with a token that may start runs would start a real backup: only a few do.
      if (req.startsBackup && runStarts-- <= 0) req.raw = req.raw.replace(/^POST \/v1\/backup\/\w+/, 'POST /v1/backup/nowhere');
      const started = performance.now();
      const res = await send(url.hostname, Number(url.port), req.raw, timeoutMs);
      durations.push(performance.now() - started);
      if (res === 'timeout') {
        report.hangs++;
        report.failures.push({
          index: i,
          why: `no answer within ${timeoutMs} ms`,
          request: clip(req.raw),
          status: null,
          body: '',
        });
        continue;
      }
      report.byStatus[res.status] = (report.byStatus[res.status] ?? 0) + 1;
      const declared = req.rerouted
        ? anyStatus
        : req.wrongMethod
          ? new Set(methodsOfPath.get(op.path)!.flatMap((o) => [...o.statuses]))
          : op.statuses;
      const why = judge(res, req.method, declared);
      if (why) report.failures.push({ index: i, why, request: clip(req.raw), status: res.status, body: clip(res.body) });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  durations.sort((a, b) => a - b);
  const at = (q: number) => Math.round(durations[Math.min(durations.length - 1, Math.floor(q * durations.length))]!);
  report.ms = { p50: at(0.5), p99: at(0.99), max: Math.round(durations.at(-1) ?? 0) };
  return report;
}

function documented(doc: { paths: Record<string, Record<string, any>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method,
      path,
      params: (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, schema: p.schema ?? {} })),
      statuses: new Set(Object.keys(op.responses).map(Number)),
      body: method !== 'get',
    })),
  );
}

function judge(res: Answer, method: string, declared: Set<number>): string | undefined {
  if (res.status >= 500) return `server error ${res.status}`;
  if (!declared.has(res.status) && !edgeStatuses.includes(res.status)) return `status ${res.status} is not declared`;
  if (res.status < 300) return undefined;
  if (res.headers['content-type'] !== 'application/problem+json') return `content-type ${res.headers['content-type']}`;
  if (method === 'HEAD') return undefined;
  try {
    const p = JSON.parse(res.body);
    if (p.status !== res.status) return `problem status ${p.status} is not the HTTP status`;
    for (const k of ['type', 'title', 'detail']) if (typeof p[k] !== 'string') return `problem without ${k}`;
  } catch {
    return 'body is not JSON';
  }
  return undefined;
}

interface Request {
  raw: string;
  method: string;
  wrongMethod: boolean;
  rerouted: boolean;
  startsBackup: boolean;
}

function makeRequest(rnd: Prng, op: Operation, tokens: Record<string, string>, host: string): Request {
  const wrongMethod = rnd.chance(0.08);
  const method = wrongMethod
    ? rnd.pick(['PUT', 'PATCH', 'OPTIONS', 'TRACE', 'DELETE', 'POST', 'GET', 'HEAD', 'BREW'])
    : rnd.chance(0.05) && op.method === 'get'
      ? 'HEAD'
      : op.method.toUpperCase();

  const who = rnd.pick(['none', 'reader', 'operator', 'admin', 'admin', 'bogus', 'malformed']);
  const headers: Array<[string, string]> = [['Host', host]];
  if (who === 'bogus') headers.push(['Authorization', `Bearer ${rnd.token(40)}`]);
  else if (who === 'malformed')
    headers.push(['Authorization', rnd.pick(['Bearer', 'Basic YWRtaW46YWRtaW4=', 'Bearer a b', mutant(rnd)])]);
  else if (who !== 'none') headers.push(['Authorization', `Bearer ${tokens[who]}`]);

  let path = op.path;
  let rerouted = false;
  for (const p of op.params.filter((p) => p.in === 'path')) {
    const value = encode(rnd.chance(0.6) ? valid(rnd, p.schema) : mutant(rnd));
    // A dot segment takes the request to another route (URLs are normalised), whose statuses differ.
    rerouted ||= value === '.' || value === '..';
    path = path.replace(`{${p.name}}`, value);
  }
  const query: string[] = [];
  for (const p of op.params.filter((p) => p.in === 'query')) {
    if (rnd.chance(0.4)) continue;
    const value = () => encode(rnd.chance(0.5) ? valid(rnd, p.schema) : mutant(rnd));
    query.push(`${p.name}=${value()}`);
    if (rnd.chance(0.1)) query.push(`${p.name}=${value()}`);
    if (rnd.chance(0.05)) query.push(p.name);
  }
  if (rnd.chance(0.15)) query.push(`${encode(rnd.pick(['x', 'limit[]', 'é', '%00', '']))}=${encode(mutant(rnd))}`);
  for (const p of op.params.filter((p) => p.in === 'header')) {
    if (rnd.chance(0.5)) headers.push([p.name, headerValue(rnd, rnd.chance(0.5) ? valid(rnd, p.schema) : mutant(rnd))]);
  }
  if (rnd.chance(0.2)) headers.push(['Accept', rnd.pick(['text/event-stream', '*/*', 'application/json', '\u00ff', ''])]);
  if (rnd.chance(0.1)) headers.push(['X-Request-Id', headerValue(rnd, rnd.chance(0.5) ? rnd.token(20) : mutant(rnd))]);
  if (rnd.chance(0.03)) headers.push(['X-Filler', 'f'.repeat(rnd.int(10_000, 40_000))]);
  if (rnd.chance(0.02)) headers.push(['X-Control', `a${rnd.pick(['\0', '\x01', '\x7f', '\r', '\n '])}b`]);

  let body = '';
  if ((op.body || rnd.chance(0.05)) && rnd.chance(0.7)) {
    body = rnd.chance(0.01) ? '{"x":"' + 'a'.repeat(1_100_000) + '"}' : jsonBody(rnd);
    headers.push(['Content-Type', rnd.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', ''])]);
  }
  if (body || method === 'POST' || rnd.chance(0.1)) headers.push(['Content-Length', String(Buffer.byteLength(body))]);
  headers.push(['Connection', 'close']);

  const target = rnd.chance(0.02)
    ? `${path}?${'q'.repeat(rnd.int(9000, 70_000))}`
    : query.length
      ? `${path}?${query.join('&')}`
      : path;
  const raw = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
  const startsBackup =
    method === 'POST' && /^\/v1\/backup\/(undercloud|overcloud)(\?|$)/.test(target) && ['operator', 'admin'].includes(who);
  return { raw, method, wrongMethod, rerouted, startsBackup };
}

function valid(rnd: Prng, s: Schema): string {
  if (s.enum) return rnd.pick(s.enum);
  if (s.type === 'integer') return String(rnd.int(s.minimum ?? 0, Math.min(s.maximum ?? 10_000, 10_000)));
  if (s.example && /^[a-z]+_/.test(s.example))
    return s.example.replace(/[^_]+$/, () => rnd.chars('0123456789abcdefghjkmnpqrstvwxyz', 26));
  if (s.example) return rnd.chance(0.5) ? s.example : rnd.token(rnd.int(1, 12));
  return rnd.token(rnd.int(s.minLength ?? 1, Math.min(s.maxLength ?? 16, 16)));
}

/** Values no route should take: wrong types and forms, edges, huge, unicode, NULs, injections. */
function mutant(rnd: Prng): string {
  return rnd.pick([
    () => '',
    () => ' ',
    () => '0',
    () => '-1',
    () => '1e3',
    () => '0x10',
    () => ' 5',
    () => '5 ',
    () => '1.5',
    () => 'NaN',
    () => 'Infinity',
    () => '9'.repeat(rnd.int(16, 400)),
    () => 'true',
    () => 'null',
    () => '[]',
    () => '{"a":1}',
    () => '\0',
    () => `a\0b`,
    () => '%00',
    () => '%',
    () => '%zz',
    () => '%ff%fe',
    () => '../../etc/passwd',
    () => '..',
    () => '☃',
    () => 'é',
    () => '🦀'.repeat(rnd.int(1, 50)),
    () => '\u202egnp.exe',
    () => '\ufeff',
    () => "' OR 1=1 --",
    () => '<script>alert(1)</script>',
    () => 'bk_' + 'z'.repeat(26),
    () => 'run_' + rnd.token(26),
    () => 'undercloud',
    () => 'overcloud',
    () => 'last',
    () => 'a'.repeat(rnd.int(200, 12_000)),
    () => rnd.token(rnd.int(1, 300)),
  ])();
}

function jsonBody(rnd: Prng): string {
  return rnd.pick([
    () => '{}',
    () => '[]',
    () => 'null',
    () => '{"stopall":"yes"}',
    () => '{"a":' + '['.repeat(2000) + ']'.repeat(2000) + '}',
    () => '{"a":"\\u0000"}',
    () => '{bad json',
    () => JSON.stringify({ [mutant(rnd)]: mutant(rnd) }),
    () => '\u00ff\u00fe',
  ])();
}

/** A value as a client encodes it, but a percent sequence of the mutants (`%00`, `%zz`) goes as it is. */
function encode(v: string): string {
  return v.startsWith('%') ? v : encodeURIComponent(v);
}

/** Header values carry Latin-1 only; what does not fit goes as its UTF-8 bytes. */
function headerValue(rnd: Prng, v: string): string {
  return rnd.chance(0.7) ? Buffer.from(v.replace(/[\r\n]/g, ''), 'utf8').toString('latin1') : v.replace(/[\r\n]/g, '');
}

const clip = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function send(host: string, port: number, raw: string, timeoutMs: number): Promise<Answer | 'timeout'> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks)));
    };
    socket.on('data', (b) => chunks.push(b));
    socket.on('error', () => {});
    socket.on('close', done);
    // write, not end: a half-closed client gets its request aborted by Node, as a real client never would.
    socket.write(Buffer.from(raw, 'latin1'));
  });
}

function parse(bytes: Buffer): Answer {
  const text = bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, headEnd < 0 ? text.length : headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers = Object.fromEntries(
    lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as const),
  );
  let body = headEnd < 0 ? '' : text.slice(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') body = unchunk(body);
  // A socket closed with no status line: the server dropped the request without an answer.
  return { status: status || 599, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

function unchunk(s: string): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    const eol = s.indexOf('\r\n', i);
    const size = parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) break;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
  return out;
}

interface Prng {
  next(): number;
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  chars(alphabet: string, n: number): string;
  token(n: number): string;
}

/** mulberry32 over a seed mixed with the request's index. */
export function prng(seed: number, index = 0): Prng {
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const chars = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[int(0, alphabet.length - 1)]).join('');
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(0, items.length - 1)]!,
    chars,
    token: (n) => chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~', n),
  };
}
