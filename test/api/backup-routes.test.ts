import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type { Backup } from '../../src/core/model.ts';
import { newId } from '../../src/core/ids.ts';
import { startTestDaemon, waitForFile, waitForRun, Workspace } from '../harness/test-daemon.ts';

const ws = new Workspace({ undercloud: { undercloud: {} }, overcloud: { ctl0: {}, ctl1: {}, ctl2: {} } });
let d: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  d = await startTestDaemon(ws);
});
afterAll(async () => {
  await d?.stop();
  ws.remove();
});
afterEach(() => {
  ws.setHosts({ undercloud: { undercloud: {} }, overcloud: { ctl0: {}, ctl1: {}, ctl2: {} } });
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('POST /v1/backup/{target}', () => {
  test('backs up the undercloud: 202 with the run, then an available, verified backup', async () => {
    const res = await d.request('POST', '/v1/backup/undercloud', { role: 'operator' });
    expect(res.status).toBe(202);
    const body = await res.json();
    expect(res.headers.get('location')).toBe(`/v1/runs/${body.run.id}`);
    expect(body.run).toMatchObject({
      kind: 'backup',
      target: 'undercloud',
      params: { stopall: 'no' },
      requested_by: 'operator-client',
    });
    expect(body.backup_ids).toHaveLength(1);

    const run = await waitForRun(d, body.run.id);
    expect(run.state).toBe('succeeded');
    expect(run.error).toBeNull();
    expect(run.params).toEqual({ stopall: 'no' });

    const backup = await d.json('GET', `/v1/backup/${body.backup_ids[0]}`, { role: 'reader' });
    expect(backup).toMatchObject({ state: 'available', node: 'undercloud', target: 'undercloud', run_id: body.run.id });
    expect(backup.name).toMatch(/^undercloud-\d{8}T\d{6}Z$/);
    expect(backup.location_url).toBe(`file://${ws.storage}/undercloud/undercloud/${backup.id}/`);
    const dir = fileURLToPath(backup.location_url);
    for (const a of backup.manifest.artefacts) {
      expect(sha256(join(dir, a.name))).toBe(a.sha256);
    }
    expect(backup.size).toBe(306_000);
    expect(sha256(join(dir, 'manifest.json'))).toBe(backup.sha256);
    expect(existsSync(join(ws.staging, backup.id))).toBe(false);

    const last = await d.json('GET', '/v1/backup/last', { role: 'reader' });
    expect(last.id).toBe(backup.id);

    const events = (await d.json('GET', `/v1/runs/${body.run.id}/events`)).events;
    const phases = new Set(events.map((e: { phase: string }) => e.phase));
    for (const p of ['run', 'preflight', 'quiesce', 'image', 'transfer', 'verify', 'cleanup']) expect(phases).toContain(p);
    expect(events.map((e: { seq: number }) => e.seq)).toEqual(
      [...events.map((e: { seq: number }) => e.seq)].sort((a, b) => a - b),
    );
  });

  test('stopall other than no|yes is a 400 naming the field', async () => {
    const res = await d.request('POST', '/v1/backup/undercloud?stopall=maybe');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 400, field: 'stopall', title: 'Bad Request' });
  });

  test('an unknown target is a 404', async () => {
    const res = await d.request('POST', '/v1/backup/computes');
    expect(res.status).toBe(404);
    expect((await res.json()).detail).toContain("unknown target 'computes'");
  });

  test('a target without hosts is a 422 and starts nothing', async () => {
    ws.setHosts({ undercloud: { undercloud: {} } });
    const res = await d.request('POST', '/v1/backup/overcloud');
    expect(res.status).toBe(422);
    expect((await res.json()).detail).toContain("group 'Controller'");
  });

  test('a second run on a live target gets 409 with the live run id', async () => {
    ws.setHosts({ undercloud: { undercloud: { hold: true } } });
    const first = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const res = await d.request('POST', '/v1/backup/undercloud?stopall=yes');
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ status: 409, run_id: first.run.id });
    writeFileSync(join(ws.staging, `release-${first.run.id}`), '');
    expect((await waitForRun(d, first.run.id)).state).toBe('succeeded');
  });

  test('a burst of 30 requests on one target starts exactly one run; the others get 409 naming it', async () => {
    ws.setHosts({ undercloud: { undercloud: { hold: true } } });
    const answers = await Promise.all(Array.from({ length: 30 }, () => d.request('POST', '/v1/backup/undercloud')));
    const bodies = await Promise.all(answers.map((r) => r.json()));
    const started = bodies.filter((_, i) => answers[i]!.status === 202);
    expect(started).toHaveLength(1);
    expect(answers.filter((r) => r.status === 409)).toHaveLength(29);
    for (const [i, body] of bodies.entries()) if (answers[i]!.status === 409) expect(body.run_id).toBe(started[0].run.id);
    writeFileSync(join(ws.staging, `release-${started[0].run.id}`), '');
    expect((await waitForRun(d, started[0].run.id)).state).toBe('succeeded');
  });

  test('an Idempotency-Key returns the same run on retry and refuses a different request', async () => {
    const headers = { 'idempotency-key': `key-${Date.now()}` };
    const a = await d.request('POST', '/v1/backup/undercloud', { headers });
    const b = await d.request('POST', '/v1/backup/undercloud', { headers });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const [ja, jb] = [await a.json(), await b.json()];
    expect(jb.run.id).toBe(ja.run.id);
    expect(jb.backup_ids).toEqual(ja.backup_ids);
    const c = await d.request('POST', '/v1/backup/undercloud?stopall=yes', { headers });
    expect(c.status).toBe(422);
    await waitForRun(d, ja.run.id);
  });

  test('overcloud: one backup per controller; one failing node leaves the others and a partially_failed run', async () => {
    ws.setHosts({ overcloud: { ctl0: {}, ctl1: { fail_hosts: ['ctl1'] }, ctl2: {} } });
    const started = await d.json('POST', '/v1/backup/overcloud?stopall=yes', { status: 202 });
    expect(started.backup_ids).toHaveLength(3);
    const run = await waitForRun(d, started.run.id);
    expect(run.state).toBe('partially_failed');
    expect(run.error).toContain('ctl1');
    const backups = await Promise.all(started.backup_ids.map((id: string) => d.json('GET', `/v1/backup/${id}`)));
    const byNode = Object.fromEntries(backups.map((b: any) => [b.node, b]));
    expect(byNode.ctl0.state).toBe('available');
    expect(byNode.ctl2.state).toBe('available');
    expect(byNode.ctl1.state).toBe('failed');
    expect(byNode.ctl1.error).toContain('imaging failed as the test asked');
    // A host failed, so the daemon ran an explicit unquiesce pass for the run.
    expect(readFileSync(join(ws.staging, 'unquiesced'), 'utf8')).toContain(started.run.id);
    expect(existsSync(join(ws.staging, `quiesced-${started.run.id}-ctl1`))).toBe(false);
  });

  test('transfers respect the configured number of nodes at a time', async () => {
    const serial = new Workspace({ overcloud: { ctl0: {}, ctl1: {}, ctl2: {} } });
    const d1 = await startTestDaemon(serial, { transfer: { concurrentNodes: 1 } });
    try {
      const started = await d1.json('POST', '/v1/backup/overcloud?stopall=yes', { status: 202 });
      const run = await waitForRun(d1, started.run.id);
      expect(run.state).toBe('succeeded');
      // One node at a time: a node's transfer events are never interleaved with another's.
      const order = run.events
        .filter((e: { phase: string; host: string | null }) => e.phase === 'transfer' && e.host)
        .map((e: { host: string }) => e.host);
      const runs = order.filter((h: string, i: number) => i === 0 || h !== order[i - 1]);
      expect(runs).toHaveLength(3);
    } finally {
      await d1.stop();
      serial.remove();
    }
  });

  test('the event stream (SSE) delivers events live and ends with the run', async () => {
    ws.setHosts({ undercloud: { undercloud: { hold: true } } });
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const res = await d.request('GET', `/v1/runs/${started.run.id}/events`, {
      role: 'reader',
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        text += value;
      }
    };
    // The hold task is live: its start event arrives while the run is still running.
    await readUntil('task started: image: hold until released');
    expect((await d.json('GET', `/v1/runs/${started.run.id}`)).state).toBe('running');
    writeFileSync(join(ws.staging, `release-${started.run.id}`), '');
    await readUntil('event: end');
    const blocks = text
      .split('\n\n')
      .map((block) =>
        Object.fromEntries(
          block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        ),
      );
    const events = blocks.filter((b) => b.event === 'run-event').map((b) => ({ id: Number(b.id), ...JSON.parse(b.data!) }));
    expect(events.map((e) => e.id)).toEqual(events.map((e) => e.seq));
    expect(new Set(events.map((e) => e.seq)).size).toBe(events.length);
    expect(events.at(-1).message).toBe('run succeeded');
    expect(blocks.find((b) => b.event === 'end')?.data).toBe('{"state":"succeeded"}');
  });

  test('cancel stops a live run, restarts services and ends it cancelled', async () => {
    ws.setHosts({ undercloud: { undercloud: { hold: true } } });
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    await waitForFile(join(ws.staging, `quiesced-${started.run.id}-undercloud`));
    expect((await d.request('POST', `/v1/runs/${started.run.id}/cancel`, { role: 'reader' })).status).toBe(403);
    expect((await d.request('POST', `/v1/runs/${started.run.id}/cancel`, { role: 'operator' })).status).toBe(202);
    const run = await waitForRun(d, started.run.id);
    expect(run.state).toBe('cancelled');
    expect((await d.json('GET', `/v1/backup/${started.backup_ids[0]}`)).state).toBe('failed');
    expect(readFileSync(join(ws.staging, 'unquiesced'), 'utf8')).toContain(started.run.id);
    expect((await d.request('POST', `/v1/runs/${started.run.id}/cancel`)).status).toBe(409);
  });
});

describe('GET /v1/backup', () => {
  const seeded: Backup[] = [];
  beforeAll(() => {
    const runId = newId('run');
    const t0 = Date.UTC(2020, 0, 1);
    d.ctx.records.runs.insert({
      id: runId,
      kind: 'backup',
      target: 'overcloud',
      params: { stopAll: false },
      state: 'succeeded',
      createdAt: t0,
      startedAt: t0,
      finishedAt: t0,
      error: null,
      requestedBy: 'seed',
      idempotencyKey: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      quiesceOpen: false,
    });
    d.ctx.records.transaction(() => {
      for (let i = 0; i < 1000; i++) {
        const b: Backup = {
          id: newId('bk'),
          name: `seed-${i}`,
          locationUrl: 'file:///seed/',
          creationDate: t0 + Math.floor(i / 3) * 1000,
          target: 'overcloud',
          node: `seed${i % 3}`,
          runId,
          state: i % 10 === 0 ? 'failed' : 'available',
          size: 1,
          sha256: null,
          manifest: null,
          error: null,
          updatedAt: t0,
        };
        d.ctx.records.backups.insert(b);
        seeded.push(b);
      }
    });
  });

  test('pages through 1,000 records with limit + marker, newest first, no repeats or gaps', async () => {
    const seen: any[] = [];
    let marker: string | null = null;
    let pages = 0;
    do {
      const page: any = await d.json('GET', `/v1/backup?target=overcloud&limit=100${marker ? `&marker=${marker}` : ''}`, {
        role: 'reader',
      });
      seen.push(...page.backups.filter((b: any) => b.name.startsWith('seed-')));
      marker = page.next_marker;
      pages++;
    } while (marker && pages < 50);
    expect(seen).toHaveLength(1000);
    expect(new Set(seen.map((b) => b.id)).size).toBe(1000);
    const keys = seen.map((b) => [b.creation_date, b.id].join(' '));
    expect(keys).toEqual([...keys].sort().reverse());
  });

  test('filters by node and state', async () => {
    const page = await d.json('GET', '/v1/backup?node=seed1&state=failed&limit=1000');
    const expected = seeded.filter((b) => b.node === 'seed1' && b.state === 'failed');
    expect(page.backups.map((b: any) => b.id).sort()).toEqual(expected.map((b) => b.id).sort());
    expect(page.next_marker).toBeNull();
  });

  test('last filters by node and only returns available backups', async () => {
    const newest = seeded
      .filter((b) => b.node === 'seed0' && b.state === 'available')
      .sort((a, b) => b.creationDate - a.creationDate || (a.id < b.id ? 1 : -1))[0]!;
    expect((await d.json('GET', '/v1/backup/last?node=seed0')).id).toBe(newest.id);
    expect((await d.request('GET', '/v1/backup/last?node=nowhere')).status).toBe(404);
  });

  test('a list page carries manifests only when asked with include=manifest; one backup always has it', async () => {
    const { backup_ids } = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    await waitForRun(d, (await d.json('GET', `/v1/backup/${backup_ids[0]}`)).run_id);
    const plain = await d.json('GET', '/v1/backup?target=undercloud&limit=5', { role: 'reader' });
    expect(plain.backups.length).toBeGreaterThan(0);
    expect(plain.backups.every((b: any) => !('manifest' in b))).toBe(true);
    const full = await d.json('GET', '/v1/backup?target=undercloud&limit=5&include=manifest', { role: 'reader' });
    const made = full.backups.find((b: any) => b.id === backup_ids[0]);
    expect(made.manifest.artefacts.length).toBeGreaterThan(0);
    expect(made.manifest).toEqual((await d.json('GET', `/v1/backup/${backup_ids[0]}`)).manifest);
  });

  test('bad paging input is a 400 naming the field', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['state=gone', 'state'],
      ['include=everything', 'include'],
      [`marker=${newId('bk')}`, 'marker'],
    ]) {
      const res = await d.request('GET', `/v1/backup?${query}`);
      expect(res.status, query).toBe(400);
      expect((await res.json()).field, query).toBe(field);
    }
  });

  test('a malformed id is 400, an unknown one 404', async () => {
    expect((await d.request('GET', '/v1/backup/not-an-id')).status).toBe(400);
    expect((await d.request('GET', `/v1/backup/${newId('bk')}`)).status).toBe(404);
    expect((await d.request('GET', `/v1/runs/${newId('run')}`)).status).toBe(404);
    expect((await d.request('GET', '/v1/runs/last')).status).toBe(400);
  });
});

describe('DELETE /v1/backup/{id}', () => {
  test('removes the stored artefacts, then the record', async () => {
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    await waitForRun(d, started.run.id);
    const backup = await d.json('GET', `/v1/backup/${started.backup_ids[0]}`);
    const dir = fileURLToPath(backup.location_url);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true);
    expect((await d.request('DELETE', `/v1/backup/${backup.id}`, { role: 'admin' })).status).toBe(204);
    expect(existsSync(dir)).toBe(false);
    expect((await d.request('GET', `/v1/backup/${backup.id}`)).status).toBe(404);
    expect((await d.request('DELETE', `/v1/backup/${backup.id}`)).status).toBe(404);
  });

  test('a backup still being made cannot be deleted (409)', async () => {
    ws.setHosts({ undercloud: { undercloud: { hold: true } } });
    const started = await d.json('POST', '/v1/backup/undercloud', { status: 202 });
    const res = await d.request('DELETE', `/v1/backup/${started.backup_ids[0]}`);
    expect(res.status).toBe(409);
    expect((await res.json()).run_id).toBe(started.run.id);
    writeFileSync(join(ws.staging, `release-${started.run.id}`), '');
    await waitForRun(d, started.run.id);
  });

  test('there is no update route: 405, and Allow names what there is', async () => {
    for (const method of ['PUT', 'PATCH']) {
      const res = await d.request(method, `/v1/backup/${newId('bk')}`);
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD, DELETE, POST');
    }
  });
});
