import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { Hono } from 'hono';
import { problemOf, problemOfStatus, problemResponse } from '../api/problem.ts';
import type { CoreContext } from '../core/context.ts';
import { idPattern } from '../core/ids.ts';
import type { BootFetch, BootTarget } from '../core/ports.ts';
import { openRestoreArchive } from '../core/restore/restore-archive.ts';
import { rescueReports, type RescueReport, type RestoreProgress } from '../core/restore/restore-progress.ts';
import { renderChainScript } from './boot-configs.ts';
import { bootConfig, bootPath, restoreArchive, stagedFile } from './boot-root.ts';

/**
 * The HTTP boot server for iPXE and the rescue system, a Hono app the daemon's HTTP server mounts
 * outside /v1: firmware sends no API token. What a node can fetch is what a live restore staged
 * for it (the same files the TFTP server serves) and its backup's archive; every request is
 * logged with the client's address and tells the restore's progress. Errors are the API's
 * problem+json: firmware reads only the status, and an operator's curl gets the reason.
 */
export function httpBootServer(ctx: CoreContext, progress: RestoreProgress, root: string): Hono {
  const app = new Hono();
  const client = (c: Context) => getConnInfo(c).remote.address ?? 'unknown';
  const seen = (c: Context, target: BootTarget | null, outcome: BootFetch['outcome'], bytes = 0, reason?: string) => {
    const fetch: BootFetch = {
      protocol: 'http',
      client: client(c),
      target,
      path: c.req.path,
      outcome,
      bytes,
      ...(reason ? { reason } : {}),
    };
    if (outcome === 'sent') ctx.log.info(fetch, 'http boot: sent');
    else ctx.log.warn(fetch, `http boot: ${outcome}`);
    progress.observe(fetch);
  };
  const missing = (c: Context, target: BootTarget | null, reason: string) => {
    seen(c, target, 'refused', 0, reason);
    return problemResponse(c, problemOf('not_found', reason));
  };

  app.get('/boot/ipxe', (c) => c.text(renderChainScript(ctx.restore.httpUrl)));

  app.get('/boot/ipxe/:mac', async (c) => {
    const target = bootConfig('ipxe', c.req.param('mac'));
    if (!target) return missing(c, null, 'not a MAC address');
    const script = await readFile(join(root, bootPath(target)), 'utf8').catch(() => null);
    if (script === null) return missing(c, target, 'no restore is staged for this node');
    seen(c, target, 'sent', Buffer.byteLength(script));
    return c.text(script);
  });

  app.on(['GET', 'HEAD'], '/boot/:id/files/:name', async (c) => {
    const target = stagedFile(c.req.param('id'), c.req.param('name'));
    if (!target) return missing(c, null, 'no such boot file');
    const file = join(root, bootPath(target));
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) return missing(c, target, 'not staged (no live restore has this file)');
    return sendRange(c, info.size, (range) => {
      const stream = createReadStream(file, range);
      stream.on('end', () => seen(c, target, 'sent', range ? range.end - range.start + 1 : info.size));
      return stream;
    });
  });

  // The rescue system streams this into ReaR's restore (pxe/rescue-hook.sh); the core verifies it on the way.
  app.get('/boot/:id/archive', async (c) => {
    const target = restoreArchive(c.req.param('id'));
    if (!target) return missing(c, null, 'not a restore id');
    const archive = await openRestoreArchive(ctx, target.restoreId);
    if (!archive) return missing(c, target, 'no live restore with an archive');
    archive.body.on('end', () => seen(c, target, 'sent', archive.size));
    archive.body.on('error', (err) => seen(c, target, 'failed', 0, err.message));
    return new Response(Readable.toWeb(archive.body) as unknown as ReadableStream, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(archive.size) },
    });
  });

  app.post('/boot/:id/report/:what', (c) => {
    const { id, what } = c.req.param();
    if (!idPattern('rs').test(id) || !(rescueReports as readonly string[]).includes(what)) {
      return problemResponse(c, problemOf('not_found', `unknown report: ${rescueReports.join(', ')} are known`));
    }
    ctx.log.info({ client: client(c), restore: id, report: what }, 'rescue system report');
    if (progress.report(id, what as RescueReport)) return c.body(null, 204);
    return problemResponse(c, problemOf('not_found', 'no live restore with this id'));
  });

  return app;
}

/** A whole file or one `Range: bytes=a-b`, as boot firmware asks for them. */
function sendRange(c: Context, size: number, open: (range?: { start: number; end: number }) => Readable): Response {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
  const header = c.req.header('range');
  let range: { start: number; end: number } | undefined;
  if (header) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
    const start = m?.[1] ? Number(m[1]) : m?.[2] ? size - Number(m[2]) : NaN;
    const end = m?.[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (!m || !(start >= 0) || start > end) {
      const problem = problemOfStatus(416, `the file has ${size} bytes: ${header} is outside it`);
      return problemResponse(c, problem, { 'Accept-Ranges': 'bytes', 'Content-Range': `bytes */${size}` });
    }
    range = { start, end };
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = String(range ? range.end - range.start + 1 : size);
  if (c.req.method === 'HEAD') return new Response(null, { status: range ? 206 : 200, headers });
  return new Response(Readable.toWeb(open(range)) as unknown as ReadableStream, { status: range ? 206 : 200, headers });
}
