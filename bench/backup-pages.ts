/**
 * Are deep pages of `GET /v1/backup` as fast as the first? 100,000 backups on record (3 nodes of
 * 2 targets, one manifest each), then pages of 50 read through the records port, newest first:
 * the first page, a page in the middle, the last one, unfiltered and filtered by target and node.
 * Prints pages/s as the median of the repeats and each deep page's ratio to the first page of the
 * same filter (target: >= 0.8); walks every page once to check that the pages cover each backup
 * exactly once, in order. Last, the first page as the API serialises it, with and without
 * manifests (list pages carry them only with include=manifest).
 *
 *   node --import tsx bench/backup-pages.ts [backups = 100000] [repeats = 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backup, BackupFilter } from '../src/core/model.ts';
import { backupOut } from '../src/api/schemas.ts';
import { openDatabase } from '../src/db/client.ts';
import { sqliteRecords } from '../src/db/records.ts';

const count = Number(process.argv[2] ?? 100_000);
const repeats = Number(process.argv[3] ?? 5);
const PAGE = 50;

const dir = mkdtempSync(join(tmpdir(), 'rearguard-bench-pages-'));
try {
  const records = sqliteRecords(openDatabase(join(dir, 'rearguard.db')));
  const t0 = Date.now() - count * 60_000;
  records.transaction(() => {
    records.runs.insert({
      id: 'run_bench',
      kind: 'backup',
      target: 'overcloud',
      params: { stopAll: false },
      state: 'succeeded',
      createdAt: t0,
      startedAt: t0,
      finishedAt: t0,
      error: null,
      requestedBy: 'bench',
      idempotencyKey: null,
      leaseOwner: null,
      leaseExpiresAt: null,
      quiesceOpen: false,
    });
    for (let i = 0; i < count; i++) records.backups.insert(backup(i, t0));
  });

  const filters: Array<[string, BackupFilter]> = [
    ['all', {}],
    ['target', { target: 'overcloud' }],
    ['node', { node: 'controller-1' }],
  ];
  console.log(`${count} backups, pages of ${PAGE}, median of ${repeats} x 200 pages\n`);
  console.log('filter   first p/s   middle p/s (ratio)   last p/s (ratio)');
  for (const [name, filter] of filters) {
    const ids = walk(records, filter);
    const rows = [undefined, ids[Math.floor(ids.length / 2)], ids[ids.length - PAGE - 1]].map((marker) =>
      pagesPerSecond(() => records.backups.list(filter, PAGE, marker)),
    );
    const [first, middle, last] = rows as [number, number, number];
    console.log(
      `${name.padEnd(8)} ${first.toFixed(0).padStart(9)}   ${middle.toFixed(0).padStart(10)} (${(middle / first).toFixed(2)})   ${last.toFixed(0).padStart(8)} (${(last / first).toFixed(2)})`,
    );
  }

  // What a page costs to read and send, as GET /v1/backup answers it, with and without manifests.
  const json = (manifests: boolean) => {
    const page = records.backups.list({}, PAGE, undefined, { manifests });
    return JSON.stringify(page.items.map((b) => (manifests ? backupOut(b) : { ...backupOut(b), manifest: undefined })));
  };
  const [lean, full] = [pagesPerSecond(() => json(false)), pagesPerSecond(() => json(true))];
  console.log(
    `\nfirst page as JSON: without manifests ${json(false).length} bytes, ${lean.toFixed(0)} p/s; ` +
      `with (include=manifest) ${json(true).length} bytes, ${full.toFixed(0)} p/s (lean/full ${(lean / full).toFixed(2)})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/** Every page once; checks that the pages hold each matching backup once, newest first. */
function walk(records: ReturnType<typeof sqliteRecords>, filter: BackupFilter): string[] {
  const ids: string[] = [];
  let marker: string | undefined;
  let last: Backup | undefined;
  do {
    const page = records.backups.list(filter, 1000, marker);
    for (const b of page.items) {
      if (last && (b.creationDate > last.creationDate || (b.creationDate === last.creationDate && b.id >= last.id)))
        throw new Error(`page order broken at ${b.id}`);
      last = b;
      ids.push(b.id);
    }
    marker = page.nextMarker ?? undefined;
  } while (marker);
  if (new Set(ids).size !== ids.length) throw new Error('a backup appeared on two pages');
  return ids;
}

function pagesPerSecond(read: () => unknown): number {
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    for (let i = 0; i < 200; i++) read();
    rates.push(200 / ((performance.now() - start) / 1000));
  }
  return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
}

function backup(i: number, t0: number): Backup {
  const node = `controller-${i % 3}`;
  const target = i % 2 ? 'overcloud' : 'undercloud';
  // Two backups of one run share a creation date: the id breaks the tie.
  const at = t0 + Math.floor(i / 2) * 60_000;
  const id = `bk_${String(i).padStart(26, '0')}`;
  return {
    id,
    name: `${node}-${at}`,
    locationUrl: `file:///var/lib/rearguard/backups/${target}/${node}/${id}/`,
    creationDate: at,
    target,
    node,
    runId: 'run_bench',
    state: i % 10 === 0 ? 'failed' : 'available',
    size: 390_795_112,
    sha256: 'd49f3356575c8710b1d57d018963b19288710f9734f8c635c9f9f35505af0250',
    manifest: {
      backup_id: id,
      host: node,
      target,
      run_id: 'run_bench',
      rear_version: '2.7',
      created: new Date(at).toISOString(),
      artefacts: ['rear.iso', 'backup.tar.gz', 'kernel', 'initrd.cgz'].map((name) => ({
        name,
        size: 40_462_336,
        sha256: '2a583e067f416a4d3f3f3076366a39bd4290b1baab9d0c9cdcdc7e914abb0908',
      })),
    } as Backup['manifest'],
    error: null,
    updatedAt: at,
  };
}
