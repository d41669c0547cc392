import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { RunEvent } from '../../../core/model.ts';
import { getRun, runEvents } from '../../../core/runs/run-queries.ts';
import { isLive } from '../../../core/runs/transitions.ts';
import type { Api, ApiDeps } from '../../deps.ts';
import { problemResponses } from '../../problem.ts';
import { eventOut, runEventSchema, runIdParam, strictInteger } from '../../schemas.ts';

const route = createRoute({
  method: 'get',
  path: '/v1/runs/{id}/events',
  tags: ['runs'],
  summary: 'A run’s events in order, as JSON or as a live Server-Sent Events stream',
  description:
    'JSON: poll with `after` = the last seq seen. With `Accept: text/event-stream` the answer is a live stream: ' +
    'every event after `after` (or `Last-Event-ID`), then each new one as it happens, then an `end` event once the run has ended.',
  request: {
    params: runIdParam,
    query: z.object({
      after: strictInteger({ min: 0, default: 0 }),
      limit: strictInteger({ min: 1, max: 5000, default: 1000 }),
    }),
    headers: z.object({ 'last-event-id': strictInteger({ min: 0 }).optional() }),
  },
  responses: {
    200: {
      description: 'Events',
      content: {
        'application/json': { schema: z.object({ events: z.array(runEventSchema) }) },
        'text/event-stream': {
          schema: z.string().openapi({ description: '`id: <seq>`, `event: run-event`, `data: <RunEvent>`' }),
        },
      },
    },
    ...problemResponses(400, 401, 403, 404),
  },
});

export function registerListRunEvents(api: Api, { ctx }: ApiDeps) {
  api.openapi(route, async (c) => {
    const { id } = c.req.valid('param');
    const { after, limit } = c.req.valid('query');
    if (!c.req.header('accept')?.includes('text/event-stream')) {
      return c.json({ events: runEvents(ctx, id, after, limit).map(eventOut) }, 200);
    }
    getRun(ctx, id);
    const from = c.req.valid('header')['last-event-id'] ?? after;
    return streamSSE(c, async (stream) => {
      let sent = from;
      const queue: RunEvent[] = [];
      let wake: (() => void) | undefined;
      // Follow first, then read the backlog: no event can fall between the two.
      const unfollow = ctx.journal.follow(id, (e) => {
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => wake?.());
      // A comment line now and then keeps proxies from closing a stream during a long, quiet imaging step.
      const keepAlive = setInterval(() => void stream.write(': keep-alive\n\n'), 15_000);
      try {
        const send = async (e: RunEvent) => {
          if (e.seq <= sent) return;
          sent = e.seq;
          await stream.writeSSE({ id: String(e.seq), event: 'run-event', data: JSON.stringify(eventOut(e)) });
        };
        for (let page = runEvents(ctx, id, sent, 1000); page.length > 0; page = runEvents(ctx, id, sent, 1000)) {
          for (const e of page) await send(e);
        }
        while (!stream.aborted && isLive(ctx.records.runs.get(id)!.state)) {
          if (queue.length === 0) await new Promise<void>((r) => (wake = r));
          wake = undefined;
          for (const e of queue.splice(0)) await send(e);
        }
        for (const e of runEvents(ctx, id, sent, 5000)) await send(e);
        if (!stream.aborted)
          await stream.writeSSE({ event: 'end', data: JSON.stringify({ state: ctx.records.runs.get(id)!.state }) });
      } finally {
        clearInterval(keepAlive);
        unfollow();
      }
    });
  });
}
